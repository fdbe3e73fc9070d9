"""Fixtures for the unit tests: a temporary folder another account can reach.

pytest's own tmp_path sits under a 0700 folder of the account running the
tests, so a stand-in circus user (another uid) could reach nothing in it and
every read would be refused for the folders on the way, not the file tested.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def reachable_tmp() -> Iterator[Path]:
    """A fresh 0755 folder directly under /tmp (1777), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="bailey-test-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
