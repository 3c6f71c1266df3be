"""The documentation's promises about itself: every test it names exists, every link it makes leads
somewhere, and the README stays short enough to read in five minutes.

README.md and docs/*.md name the test that checks each claim, as ``tests/FILE.py::TEST`` (a
function or class defined in that file; ``TEST[id]`` for a parametrised case, ``Class::method`` for
a method), as ``tests/FILE.py`` alone, or as ``::TEST`` for another test of the file named last
before it on the same page. A test renamed or removed would leave its claim unchecked without a
sound; here it fails, naming the page and line. Tests are found by parsing the test files (``ast``),
not by importing them, so this runs in a moment and starts nothing.

Relative links (``[text](path)``, ``![alt](path)``, ``[label]: path``) must lead to a file of the
repository and, where they name a section (``page.md#section``), to a heading of that page, slugged
as GitHub slugs it. And every whole ``disco-pyserini`` command a page shows (a line of a shell block,
or a table's example in inline code) must parse with today's command line, so that a renamed option
cannot leave an example that fails when pasted. Placeholders (``...``) are not examples.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The issue counted the README in bytes (`wc -c`): 49,560 before it was cut down.
README_LIMIT_BYTES = 15_000

_NAME = r"[A-Za-z_]\w*(?:\[[^\]\s`]*\])?"
# A test file with its names, or names alone (`::TEST`) continuing the file named last.
_REFERENCE = re.compile(
    rf"(?P<file>\btests/[\w/.-]+?\.py)(?P<names>(?:::{_NAME})*)|(?<![\w\]:])(?P<bare>(?:::{_NAME})+)"
)
_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(?P<target>[^\s>]+)>?")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SHELL_BLOCK = re.compile(r"^\s*(```|~~~)\s*(bash|sh|shell|console)?\s*$")
_COMMAND = "disco-pyserini"
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(?P<text>.*?)\s*#*\s*$")


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


@cache
def _definitions(test_file: Path) -> dict[str, frozenset[str]]:
    """Top-level function and class names of a test file, each class with the names it defines."""
    tree = ast.parse(test_file.read_text(encoding="utf-8"), filename=str(test_file))
    names: dict[str, frozenset[str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names[node.name] = frozenset()
        elif isinstance(node, ast.ClassDef):
            names[node.name] = frozenset(
                child.name
                for child in node.body
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            )
    return names


def _missing(test_file: str, names: list[str]) -> str | None:
    """Why ``test_file::names[0]::names[1]...`` names nothing, or None if it names a test."""
    path = ROOT / test_file
    if not path.is_file():
        return f"there is no file {test_file}"
    if not names:
        return None
    names = [re.sub(r"\[.*\]$", "", name) for name in names]  # test_x[case] is a case of test_x
    defined = _definitions(path)
    if names[0] not in defined:
        return f"{test_file} defines no function or class {names[0]}"
    if len(names) > 2:
        return f"{test_file}::{'::'.join(names)}: only Class::method is understood"
    if len(names) == 2 and names[1] not in defined[names[0]]:
        return f"class {names[0]} of {test_file} defines no {names[1]}"
    return None


def named_tests(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, test file, names) for every test the page names, ``::TEST`` resolved to its file."""
    found, last_file = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for match in _REFERENCE.finditer(line):
            if match["file"]:
                last_file = match["file"]
                names = match["names"]
            else:
                names = match["bare"]
                if last_file is None:
                    found.append((number, "", names.split("::")[1:]))
                    continue
            found.append((number, last_file, names.split("::")[1:] if names else []))
    return found


def broken_test_names(path: Path) -> list[str]:
    problems = []
    for line, test_file, names in named_tests(path):
        where = f"{_relative(path)}:{line}"
        if not test_file:
            problems.append(f"{where}: ::{'::'.join(names)} follows no tests/FILE.py on this page")
            continue
        reason = _missing(test_file, names)
        if reason:
            problems.append(f"{where}: {reason}")
    return problems


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower case, punctuation dropped, spaces to hyphens."""
    text = _INLINE_CODE.sub(lambda code: code.group(0).strip("`"), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    for _, line in _prose_lines(path):
        heading = _HEADING.match(line)
        if heading:
            slug = _slug(heading["text"])
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            if count:
                seen[f"{slug}-{count}"] = 1
    return frozenset(seen)


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, line in _prose_lines(path):
        prose = _INLINE_CODE.sub("", line)
        targets = [match["target"] for match in _LINK.finditer(prose)]
        definition = _LINK_DEFINITION.match(prose)
        if definition:
            targets.append(definition["target"])
        for target in targets:
            if _SCHEME.match(target):
                continue  # a web address (or mailto:): not this repository's to check
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{_relative(path)}:{number}: ({target})"
            if not linked.exists():
                problems.append(f"{where} leads to no file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{where}: {_relative(linked)} has no heading with the anchor #{anchor}")
    return problems


def example_commands(path: Path) -> list[tuple[int, list[str]]]:
    """(line, argv) of every whole ``disco-pyserini`` command the page shows."""
    lines = path.read_text(encoding="utf-8").splitlines()
    shell_lines, block, pending, start = [], None, "", 0
    for number, line in enumerate(lines, start=1):
        fence = _FENCE.match(line)
        if fence:
            shell = _SHELL_BLOCK.match(line)
            block = None if block is not None else ("shell" if shell and shell[2] else "other")
            continue
        if block == "shell":
            start = start or number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            shell_lines.append((start, pending + line))
            pending, start = "", 0
        elif block is None and line.lstrip().startswith("|"):
            for code in _INLINE_CODE.finditer(line):
                text = code.group(0).strip("`").strip()
                if text.startswith(_COMMAND + " "):
                    shell_lines.append((number, text))
    commands = []
    for number, line in shell_lines:
        try:
            words = shlex.split(line, comments=True)
        except ValueError as error:
            commands.append((number, [f"<unreadable: {error}>"]))
            continue
        segment: list[str] = []
        for word in [*words, "&&"]:
            if word not in ("&&", "||", ";", "|"):
                segment.append(word)
                continue
            while segment and re.fullmatch(r"[A-Za-z_]\w*=\S*", segment[0]):
                segment.pop(0)  # VARIABLE=value before the command
            if segment and segment[0].rsplit("/", 1)[-1] == _COMMAND and "..." not in segment:
                commands.append((number, segment[1:]))
            segment = []
    return commands


def unparsable_examples(path: Path) -> list[str]:
    from disco_pyserini.cli import build_parser

    parser, problems = build_parser(), []
    for number, argv in example_commands(path):
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(argv)
        except SystemExit:
            said = errors.getvalue().strip().splitlines()
            problems.append(f"{_relative(path)}:{number}: {_COMMAND} {shlex.join(argv)}: {said[-1] if said else ''}")
    return problems


@pytest.mark.parametrize("path", documents(), ids=_relative)
def test_every_test_a_page_names_exists(path):
    problems = broken_test_names(path)
    assert not problems, "tests named but not found:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", documents(), ids=_relative)
def test_every_relative_link_leads_to_a_file(path):
    problems = broken_links(path)
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", documents(), ids=_relative)
def test_every_example_command_parses(path):
    problems = unparsable_examples(path)
    assert not problems, "examples the command line refuses:\n" + "\n".join(problems)


def test_the_readme_is_read_in_five_minutes():
    size = len(README.read_bytes())
    assert size <= README_LIMIT_BYTES, (
        f"README.md is {size:,} bytes, over {README_LIMIT_BYTES:,}: move details to a page of docs/ and link it"
    )


def test_the_pages_name_tests_at_all():
    """The check above would pass on pages that name no test; these do, in every form it reads."""
    named = [(test_file, names) for path in documents() for _, test_file, names in named_tests(path)]
    assert any(names for _, names in named), "no tests/FILE.py::TEST found: is the pattern broken?"
    assert any(not names for _, names in named), "no tests/FILE.py alone found"


def test_the_checks_catch_a_wrong_name_a_broken_link_and_a_wrong_example(tmp_path, monkeypatch):
    """A renamed test, a bare ::name with no file before it, a missing page, a missing anchor and an
    option the command line does not have fail; what is fine passes."""
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# A heading: with `code`, punctuation\n\n## Twice\n## Twice\n")
    page.write_text(
        "A claim (`tests/test_docs.py::test_the_readme_is_read_in_five_minutes`, `::test_no_such_test`,\n"
        "`::test_every_test_a_page_names_exists[README.md]`), a file (`tests/test_no_such_file.py`).\n"
        "[fine](other.md#a-heading-with-code-punctuation) [second](other.md#twice-1) [gone](missing.md)\n"
        "[no anchor](other.md#nowhere) [web](https://example.org/x.md) `[code](not/a/link.md)`\n"
        "```\n[in a block](nor/this.md)\n```\n"
    )
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_docs.py").write_text(Path(__file__).read_text(encoding="utf-8"))
    assert broken_test_names(page) == [
        "page.md:1: tests/test_docs.py defines no function or class test_no_such_test",
        "page.md:2: there is no file tests/test_no_such_file.py",
    ]
    assert broken_links(page) == [
        "page.md:3: (missing.md) leads to no file",
        "page.md:4: (other.md#nowhere): other.md has no heading with the anchor #nowhere",
    ]
    examples = tmp_path / "examples.md"
    examples.write_text(
        "```bash\n"
        "disco-pyserini index --collection c/ --index i/ \\\n"
        "    --threads 8   # a comment\n"
        "X=1 .venv/bin/disco-pyserini search --index i/ --topics t.jsonl --output r.trec --no-such-option\n"
        "disco-pyserini encode ... --dask\n"
        "```\n"
        "| command | example |\n|---|---|\n"
        "| `fuse` | `disco-pyserini fuse --runs a.trec --method median --output f.trec` |\n"
        "```python\ndisco-pyserini not a shell line\n```\n"
    )
    assert [number for number, _ in example_commands(examples)] == [2, 4, 9]
    assert [line.split(":")[1] for line in unparsable_examples(examples)] == ["4", "9"]
    bare = tmp_path / "bare.md"
    bare.write_text("As `::test_orphan` shows.\n")
    assert broken_test_names(bare) == ["bare.md:1: ::test_orphan follows no tests/FILE.py on this page"]
