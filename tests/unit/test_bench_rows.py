"""A bench row that fails is reported as failed, with why; the other rows still run.

Under load ``barnum check host1..host12`` exited 3 and the whole ``invoke
bench`` aborted.  These check the bench's own bookkeeping (no fleet): a
failing row, a failing group of rows, ratios over a failed row, the
markdown and the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import fleet_bench, spec_bench
from benchmarks.fleet_bench import _summarise, to_markdown
from benchmarks.measure import Measure, failed, guarded, measure

CHECK_FAILED = ("barnum check host1 host2 exited 3: barnum: host2: the host could not tell "
                "(timed out after 10s)")


def _flaky(fail_on: int):
    calls = {"n": 0}

    def fn() -> None:
        calls["n"] += 1
        if calls["n"] == fail_on:
            raise RuntimeError(CHECK_FAILED + "\n| second line")

    return fn


def test_a_failing_row_is_failed_with_why_and_the_next_row_still_runs():
    bad = measure("barnum overview", 2, _flaky(fail_on=3), repeats=3)  # warm-up, 1 ok, fails
    good = measure("floor: ssh true", 2, lambda: None, repeats=3)
    assert bad.error.startswith("RuntimeError: barnum check host1 host2 exited 3: "
                                "barnum: host2:")
    assert "\n" not in bad.error  # one line, for the table
    assert good.error is None and len(good.samples) == 3
    assert bad.median != bad.median  # NaN: no figure from a failed row


def test_a_failing_group_adds_one_failed_row_and_returns_none():
    rows: list[Measure] = []

    def boom():
        raise TimeoutError("not true within 10s")

    assert guarded(rows, "web rows", 12, boom) is None
    assert [(m.name, m.hosts, m.error) for m in rows] == [
        ("web rows", 12, "TimeoutError: not true within 10s")]
    assert guarded(rows, "levers", 12, lambda: {"x": 1.0}) == {"x": 1.0}
    assert len(rows) == 1


def test_ratios_over_a_failed_row_are_left_out_and_the_others_kept(tmp_path: Path):
    ok = [0.1, 0.1, 0.1]
    measures = [
        Measure("floor: ssh true", 4, ok, ok),
        Measure("naive: ssh + circusctl/systemctl per unit", 4, [0.4] * 3, ok),
        Measure("barnum overview", 4, [0.2] * 3, ok),
        Measure("floor: ssh true", 12, ok, ok),
        Measure("naive: ssh + circusctl/systemctl per unit", 12, [0.4] * 3, ok),
        Measure("barnum overview", 12, [0.3], [0.1], error="RuntimeError: " + CHECK_FAILED),
    ]
    results = _summarise(measures, [4, 12])
    ratios = results["ratios"]
    assert round(ratios["barnum/floor @4"], 6) == 2.0
    assert round(ratios["naive/barnum @4"], 6) == 2.0
    assert not any(k.endswith("@12") for k in ratios), ratios
    assert "barnum @12 / @4" not in ratios
    md = to_markdown(results)
    assert f"| barnum overview | 12 | FAILED: RuntimeError: {CHECK_FAILED} |  | 1 |" in md
    assert "| barnum overview | 4 | 200 | 100 | 3 |" in md
    doc = json.loads(json.dumps(results, allow_nan=False))  # strict JSON: no NaN
    assert failed(doc) == [f"barnum overview @12: RuntimeError: {CHECK_FAILED}"]
    fleet_bench._write(results, tmp_path)
    assert "FAILED" in (tmp_path / "results.md").read_text()


def test_spec_rows_run_on_when_check_exits_3(monkeypatch, tmp_path):
    """The rows of spec_bench: check fails, the ordered start rows are still timed."""
    calls: list[tuple[str, ...]] = []

    def fake_barnum(fleet, users, *args, ok=(0,)):
        calls.append(args)
        if args[0] == "check":
            raise RuntimeError(CHECK_FAILED)
        return 0.05

    class FakeFleet:  # stands in for the fleet's users file only: no host is reached
        users_file = tmp_path / "circus_users.yaml"

    FakeFleet.users_file.write_text("users: [user1]\n")

    monkeypatch.setattr(spec_bench, "_barnum", fake_barnum)
    monkeypatch.setattr(spec_bench, "_ctl", lambda *a: None)
    rows = spec_bench.measure_spec(FakeFleet(), ["host1", "host2"], repeats=2)
    by = {label: (samples, error) for label, _, samples, error in rows}
    assert by["barnum check, 2 hosts"] == ([], f"RuntimeError: {CHECK_FAILED}")
    assert by["start --ordered, 3-step chain on 2 hosts"] == ([0.05, 0.05], None)
    assert by["start --ordered --dry-run (connects to nothing)"] == ([0.05, 0.05], None)
    assert sum(a[0] == "check" for a in calls) == 1  # a failed row is not run again


def test_warm_ratios_pair_each_row_with_its_baselines():
    from benchmarks.warm_bench import ratios

    rows = [Measure("warm stop", 12, [0.2, 0.3, 0.4]), Measure("warm stop (--no-native)", 12,
                                                                [3.0, 3.0]),
            Measure("warm start", 12, [0.3]), Measure("warm start (--no-native)", 12,
                                                      error="boom"),
            Measure("warm stop", 4, [0.1]),
            Measure("overview", 12, [0.1]), Measure("overview (--no-helpers)", 12, [0.25])]
    assert ratios(rows) == {"warm stop: --no-native / default @12": 10.0,
                            "overview: --no-helpers / default @12": 2.5}
