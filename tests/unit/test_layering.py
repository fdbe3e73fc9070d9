"""The layer check (tests/layering.py) on this tree, and on trees built to break it."""

from __future__ import annotations

from pathlib import Path

from tests import layering


def test_this_tree_has_no_upward_import_and_no_cycle():
    assert layering.problems() == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name in ("barnum/__init__.py", "bailey/__init__.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        for parent in p.relative_to(root).parents:
            init = root / parent / "__init__.py"
            if str(parent) != "." and not init.exists():
                init.write_text("")
        p.write_text(text)
    return root


def test_an_upward_import_is_found_even_inside_a_function(tmp_path):
    root = _tree(tmp_path, {
        "barnum/model/config.py": "def f():\n    from barnum.live.session import X\n",
        "barnum/live/session.py": "X = 1\n",
    })
    assert layering.problems(root) == [
        "barnum.model.config (barnum.model, rank 1) imports barnum.live.session "
        "(barnum.live, rank 3)"]


def test_siblings_may_not_import_each_other(tmp_path):
    root = _tree(tmp_path, {
        "barnum/shell/runner.py": "from barnum.cli.commands import stats\n",
        "barnum/cli/commands/stats.py": "",
    })
    assert [p.split(" imports ")[1] for p in layering.problems(root)] == [
        "barnum.cli.commands.stats (barnum.cli, rank 7)"]


def test_a_cycle_is_found_through_type_only_and_relative_imports(tmp_path):
    root = _tree(tmp_path, {
        "bailey/serve.py": "from . import watch\n",
        "bailey/watch.py": "from typing import TYPE_CHECKING\n"
                           "if TYPE_CHECKING:\n    from bailey.serve import Server\n",
    })
    assert layering.problems(root) == ["import cycle: bailey.serve <-> bailey.watch"]


def test_bailey_imports_nothing_of_barnum_and_new_packages_need_a_layer(tmp_path):
    root = _tree(tmp_path, {
        "bailey/report.py": "import barnum\n",
        "barnum/extra/thing.py": "",
    })
    assert layering.problems(root) == [
        "barnum.extra: in no layer (add its package to tests/layering.py LAYERS)",
        "barnum.extra.thing: in no layer (add its package to tests/layering.py LAYERS)",
        "bailey.report imports barnum: bailey ships alone and imports nothing of barnum",
    ]
