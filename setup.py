"""The one build step pyproject.toml and setup.cfg cannot express: a ``.pth`` file at the root of site-packages.

``disco_pyserini_hook.pth`` holds one line that installs the import hook of
``_disco_pyserini_hook.py`` (read that module for why a ``.pth`` file). A regular wheel gets it
from ``build_py``, like any module; an editable wheel holds no built files, so the file is added
to the wheel ``editable_wheel`` wrote, with its line in RECORD (pip installs and uninstalls it).
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH_NAME = "disco_pyserini_hook.pth"
PTH_LINE = "import _disco_pyserini_hook; _disco_pyserini_hook.install()\n"


class build_py_with_pth(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            Path(self.build_lib, PTH_NAME).write_text(PTH_LINE, encoding="utf-8")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        return outputs if self.editable_mode else [*outputs, os.path.join(self.build_lib, PTH_NAME)]


def add_to_wheel(wheel: Path, name: str, data: bytes) -> None:
    """Add a file at the root of ``wheel``, with its hash and size in the wheel's RECORD."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    partial = wheel.with_name(wheel.name + ".partial")
    with zipfile.ZipFile(wheel) as old, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as new:
        records = [item for item in old.infolist() if item.filename.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            raise RuntimeError(f"{wheel}: expected one .dist-info/RECORD, found {len(records)}")
        for item in old.infolist():
            if item is not records[0] and item.filename != name:
                new.writestr(item, old.read(item))
        new.writestr(name, data)
        lines = [line for line in old.read(records[0]).decode("utf-8").splitlines() if not line.startswith(name + ",")]
        new.writestr(records[0], "\n".join([*lines, f"{name},sha256={digest},{len(data)}"]) + "\n")
    os.replace(partial, wheel)


class editable_wheel_with_pth(editable_wheel):
    def run(self) -> None:
        def wheels() -> dict[Path, int]:
            return {path: path.stat().st_mtime_ns for path in Path(self.dist_dir).glob("*.whl")}

        before = wheels()
        super().run()
        for wheel, mtime in wheels().items():
            if before.get(wheel) != mtime:
                add_to_wheel(wheel, PTH_NAME, PTH_LINE.encode("utf-8"))


setup(cmdclass={"build_py": build_py_with_pth, "editable_wheel": editable_wheel_with_pth})
