"""Build the one-folder bundle with PyInstaller, skipping the build when nothing
that goes into it changed (a stamp holds the hash of the sources, the spec and
the versions of Python, PySide6 and PyInstaller).

    python packaging/build_bundle.py [--dist DIR] [--work DIR] [--force]

Prints the path of the bundle's executable on the last line of stdout. Used by
`make bundle` (into dist/) and by tests/test_bundle.py (into build/, so a second
test run reuses the bundle).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "oki-siaga-112.spec"
NAME = "oki-siaga-112"
#: What the bundle is made of; a change in any of these means a new build.
INPUTS = ("commandcenter", "ui", "config", "resources", "packaging")
SUFFIXES = {".py", ".toml", ".js", ".css", ".html", ".json", ".spec", ".png", ".svg", ".wav"}


def executable(dist: Path) -> Path:
    # Windows: the same name with .exe.
    return dist / NAME / ("commandcenter.exe" if sys.platform == "win32" else "commandcenter")


def source_hash() -> str:
    h = hashlib.sha256()
    for top in INPUTS:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                h.update(path.relative_to(ROOT).as_posix().encode())
                h.update(b"\0")
                h.update(path.read_bytes())
    h.update((ROOT / "pyproject.toml").read_bytes())
    import PyInstaller
    import PySide6

    h.update(f"{sys.version}|{PySide6.__version__}|{PyInstaller.__version__}|{sys.platform}".encode())
    return h.hexdigest()


def build(dist: Path, work: Path, *, force: bool = False) -> Path:
    exe = executable(dist)
    stamp = dist / f".{NAME}.stamp"
    want = source_hash()
    if not force and exe.is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        sys.stderr.write(f"bundle: up to date ({exe})\n")
        return exe
    stamp.unlink(missing_ok=True)
    shutil.rmtree(dist / NAME, ignore_errors=True)
    start = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(dist),
            "--workpath",
            str(work),
            str(SPEC),
        ],
        cwd=ROOT,
        check=True,
    )
    if not exe.is_file():
        raise SystemExit(f"bundle: PyInstaller finished but {exe} is missing")
    stamp.write_text(want + "\n")
    sys.stderr.write(f"bundle: built {dist / NAME} in {time.monotonic() - start:.0f} s\n")
    return exe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", default=str(ROOT / "dist"), help="where the bundle folder goes")
    parser.add_argument("--work", default=str(ROOT / "build" / "pyinstaller"), help="PyInstaller's work dir")
    parser.add_argument("--force", action="store_true", help="build even when the stamp matches")
    args = parser.parse_args()
    exe = build(Path(args.dist).resolve(), Path(args.work).resolve(), force=args.force)
    sys.stdout.write(os.fspath(exe) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
