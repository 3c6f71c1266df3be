"""The page of `disco-pyserini serve`, used as a person uses it, in headless Chromium.

Debian's ``chromium`` (``/usr/bin/chromium``, which ``.ci/run`` installs) driven by Playwright's
Python package: no browser is downloaded. Where Chromium is absent the test is skipped, except in
CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

from disco_pyserini.pipeline.demo import sample_path
from live_server import LiveServer, build_sample_index

pytestmark = [pytest.mark.java, pytest.mark.slow]

CHROMIUM = os.environ.get("DISCO_PYSERINI_CHROMIUM", "/usr/bin/chromium")
# what Chromium needs on a machine without network, as root, with no screen and a fresh profile
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def need_browser():
    missing = [] if os.path.exists(CHROMIUM) else [f"{CHROMIUM} (apt-get install chromium)"]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e '.[test]')")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("the browser test needs " + " and ".join(missing) + "; .ci/run installs them")
        pytest.skip("needs " + " and ".join(missing))


# characters outside the BMP: one code point in Python, two UTF-16 units in JavaScript
EMOJI_PASSAGE = "🐝 honeybees dance 🐝🌼 to tell 🌻 the hive where 🍯 nectar flowers grow, 𝒻𝒶𝓇 away."
EMOJI_QUESTION = "🐝 honeybees dance 🌻 nectar?"


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_encoder, tiny_model):
    need_browser()
    index = build_sample_index(tmp_path_factory.mktemp("browser"), tiny_encoder, extra={"emoji-01": EMOJI_PASSAGE})
    live = LiveServer(["--index", str(index), "--model", tiny_model, "--topics", sample_path("topics.jsonl")])
    yield live
    assert live.stop() == 0, "".join(live.stderr[-20:])


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=shutil.which(CHROMIUM) or CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        problems: list[str] = []  # the browser's errors; a test that provokes some takes them out
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.problems = problems
        yield page
        context.close()
        assert not problems, problems


def test_two_turns_typed_show_highlighted_hits_side_by_side_and_the_rewrite_column(server, page, tmp_path):
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    assert "156 documents" in page.inner_text("#server")

    # turn 1: a question, searched alone
    page.locator("#turns .question").nth(0).fill("How do honeybees tell each other where the food is?")
    page.click("#search")
    page.wait_for_selector(".column[data-mode=disco] .hit")
    assert page.locator(".column").count() == 2  # raw and disco: no rewrite typed
    # turn 2: the answer to the first question, then a question that needs it
    page.click("#add-turn")
    page.locator("#turns .answer").nth(0).fill("Foragers perform a waggle dance on the comb.")
    page.locator("#turns .question").nth(1).fill("How far do they fly to find it?")
    page.fill("#rewrite", "How far do honeybees fly to find food?")
    page.click("#search")
    page.wait_for_selector(".column[data-mode=rewrite] .hit mark")

    columns = {mode: page.locator(f".column[data-mode={mode}]") for mode in ("raw", "disco", "rewrite")}
    for mode, column in columns.items():
        assert column.is_visible(), mode
        assert column.locator(".hit").count() == 10, mode
        assert column.locator(".hit mark").count() > 0, mode  # matched terms highlighted in the passages
    # the flattened query: the current question first, the earlier answer and question after it
    disco_query = columns["disco"].locator(".query-text").inner_text()
    assert disco_query.startswith("How far do they fly to find it? [SEP] Foragers perform a waggle dance")
    assert disco_query.endswith("where the food is?")
    origins = set(columns["disco"].locator(".terms .chip").evaluate_all("chips => chips.map(c => c.className)"))
    assert {"chip origin-question", "chip origin-earlier_answer"} <= origins
    assert columns["rewrite"].locator(".query-text").inner_text() == "How far do honeybees fly to find food?"

    # a hit's contributions, on demand: they add up to its score
    first = columns["disco"].locator(".hit").first
    score = int(first.locator(".score").inner_text())
    first.locator("button.why").click()
    cells = first.locator("table.contributions tbody tr td:nth-child(4)").all_inner_texts()
    assert cells and sum(map(int, cells)) == score
    assert first.locator("table.contributions tfoot").inner_text().split()[1] == str(score)

    # switch to the rewrite column alone
    page.click("#views button[data-view=rewrite]")
    assert columns["rewrite"].is_visible()
    assert not columns["raw"].is_visible() and not columns["disco"].is_visible()
    assert page.get_attribute("#views button[data-view=rewrite]", "aria-pressed") == "true"
    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    page.click("#views button[data-view=all]")
    assert all(column.is_visible() for column in columns.values())


def test_a_bad_turn_shows_the_servers_message(server, page):
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    page.click("#search")  # nothing typed: the page says so itself
    assert "Question 1 is empty" in page.inner_text("#error")
    page.locator("#turns .question").nth(0).fill("word " * 5000)  # over the server's 20,000 characters
    page.click("#search")
    page.wait_for_selector("#error:not([hidden])")
    page.wait_for_function("document.querySelector('#error').textContent.includes('at most 20000')")
    assert page.problems == ["Failed to load resource: the server responded with a status of 413 "
                             "(Request Entity Too Large)"]
    page.problems.clear()
    page.select_option("#examples", "3_4")  # an example conversation replaces it and is searched
    page.wait_for_selector(".column[data-mode=rewrite] .hit")
    assert page.locator("#turns .question").count() == 4 and page.is_hidden("#error")


def test_highlights_after_characters_outside_the_bmp_mark_the_matched_terms(server, page):
    """The server counts code points, JavaScript's strings UTF-16 units: every highlight and query
    segment after an emoji must still cover exactly its term."""
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    page.locator("#turns .question").nth(0).fill("🌼 What do bees do?")
    page.click("#add-turn")
    page.locator("#turns .answer").nth(0).fill("🐝 They dance.")
    page.locator("#turns .question").nth(1).fill(EMOJI_QUESTION)
    page.click("#search")
    page.wait_for_selector(".column[data-mode=disco] .hit mark")
    query = page.locator(".column[data-mode=disco] .query-text .segment").all_inner_texts()
    assert query == [EMOJI_QUESTION, "🐝 They dance.", "🌼 What do bees do?"]
    hit = page.locator(".column[data-mode=raw] .hit[data-doc-id=emoji-01]")
    assert hit.count() == 1, "the passage with emoji is not among the raw hits"
    assert hit.locator(".passage").inner_text() == EMOJI_PASSAGE
    marks = hit.locator(".passage mark").evaluate_all("marks => marks.map(m => [m.textContent, m.title])")
    assert marks
    for shown, title in marks:  # each highlighted stretch is the very term it is labelled with
        term = title.split(":")[0]
        if term == "[UNK]":  # the tokenizer's unknown token stands for one emoji
            assert len(shown) == 1 and ord(shown) > 0xFFFF, shown
        else:
            assert shown.lower() == term.removeprefix("##"), (shown, term)
    assert {"dance", "nectar"} <= {shown.lower() for shown, _ in marks}
