"""The suite's own layout: pytest imports test files by basename (rootdir-relative
"prepend" mode, no __init__.py in the test folders), so two files with one name
in different folders stop the whole run at collection."""

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_files_share_a_name():
    where: dict[str, list[str]] = defaultdict(list)
    for f in TESTS.rglob("test_*.py"):
        where[f.name].append(str(f.relative_to(TESTS)))
    assert {n: p for n, p in where.items() if len(p) > 1} == {}
