"""The venv the hosts run circusd and bailey from.

It is shared by every fleet on the machine (one install, fast ``up()``) and
lives in a world-readable folder made from Debian's ``/usr/bin/python3``: an
interpreter under ``/root`` is not executable by the circus users (203/EXEC).
The project is installed NON-editable from a copy of the checkout, so the
hosts never read the checkout and the checkout gets no build/ or egg-info.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path("/opt/barnum-fleet")
CHECKOUT = Path(__file__).resolve().parents[2]
# One venv per checkout: two checkouts (worktrees, CI beside a developer) never
# install their different sources into each other's hosts.
VENV = ROOT / ("venv-" + hashlib.sha256(str(CHECKOUT).encode()).hexdigest()[:10])
CIRCUS = "circus==0.19.0"
SYSTEM_PYTHON = "/usr/bin/python3"
# What goes into the installed project: everything else in the checkout
# (tests, .git, caches) is irrelevant to the hosts.
SOURCE_ITEMS = ("pyproject.toml", "README.md", "barnum", "bailey")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise venv changes between fleets booting at the same time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def source_digest(checkout: Path = CHECKOUT) -> str:
    """A hash of the files that make up the installed project."""
    h = hashlib.sha256()
    for item in SOURCE_ITEMS:
        top = checkout / item
        files = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for f in files:
            if not f.is_file() or "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            h.update(str(f.relative_to(checkout)).encode() + b"\0")
            h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


def _pip(venv: Path, args: list[str]) -> None:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}{res.stderr[-4000:]}")


def _copy_source(checkout: Path, dest: Path) -> None:
    for item in SOURCE_ITEMS:
        src = checkout / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=IGNORED)
        elif src.is_file():
            shutil.copy2(src, dest / item)
    # pyproject names a readme; a checkout still being written may lack it.
    (dest / "README.md").touch()


def ensure_venv(venv: Path = VENV, checkout: Path = CHECKOUT) -> Path:
    """Create the venv once; reinstall the project only when its source changed."""
    old_umask = os.umask(0o022)
    try:
        with _locked(venv.parent / "venv.lock"):
            circus_mark = venv / ".fleet-circus"
            if not circus_mark.exists() or circus_mark.read_text() != CIRCUS:
                if venv.exists():
                    shutil.rmtree(venv)
                subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True)
                _pip(venv, [CIRCUS])
                circus_mark.write_text(CIRCUS)
            digest = source_digest(checkout)
            source_mark = venv / ".fleet-source"
            if not source_mark.exists() or source_mark.read_text() != digest:
                with tempfile.TemporaryDirectory(prefix="barnum-src-") as tmp:
                    _copy_source(checkout, Path(tmp))
                    first = not source_mark.exists()
                    # First time: with dependencies (fabric, PyYAML...); after
                    # that only the project itself, fast.
                    extra = [] if first else ["--no-deps", "--force-reinstall"]
                    _pip(venv, [*extra, tmp])
                source_mark.write_text(digest)
            subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
    finally:
        os.umask(old_umask)
    return venv
