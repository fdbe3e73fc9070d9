"""The built wheel holds every file under barnum/ and bailey/ (CSS, JS, any data file).

An editable install reads the checkout, so a file left out of the package
data only shows once installed from the wheel (``barnum web`` then failed:
its static folder was missing).  This builds the wheel for real, from a copy
of the source (no build/ or egg-info left in the checkout, none reused), and
compares its listing with the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGES = ("barnum", "bailey")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def source_files(root: Path) -> set[str]:
    """Paths (posix, relative to ``root``) of the packages' files, minus bytecode."""
    return {
        p.relative_to(root).as_posix()
        for pkg in PACKAGES for p in (root / pkg).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.mark.timeout(600)
def test_the_wheel_holds_every_file_of_the_source_tree(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(CHECKOUT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(CHECKOUT / pkg, src / pkg, ignore=IGNORED)
    out = tmp_path / "dist"
    p = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)],
                       capture_output=True, text=True, timeout=540, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "deprecated" not in (p.stdout + p.stderr).lower(), p.stdout + p.stderr
    (wheel,) = out.glob("barnum-*.whl")
    with zipfile.ZipFile(wheel) as z:
        shipped = {n for n in z.namelist() if n.split("/", 1)[0] in PACKAGES}
    expected = source_files(CHECKOUT)
    assert "barnum/web/static/web.css" in expected  # the walk sees data files
    assert expected - shipped == set(), "missing from the wheel"
    assert shipped - expected == set(), "in the wheel but not in the source tree"
