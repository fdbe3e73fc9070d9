"""The history store: retention, size bound, schema versions, corrupt and locked files,
query filters, and the ``barnum history`` command over a store."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from barnum.history import store as hdb
from barnum.history.store import Row, open_store
from barnum.model.config import ConfigError, HistorySettings, parse_config
from barnum.views.history import parse_when, table

NOW = time.time()


def store(tmp_path, warns=None, queue_max=hdb.QUEUE_MAX, **kw):
    s = open_store(HistorySettings(path=str(tmp_path / "h.db"), **kw),
                   (warns.append if warns is not None else print), queue_max=queue_max)
    assert s is not None
    return s


def rows(s):
    return s.query()


def test_rows_come_back_oldest_first_with_their_fields(tmp_path):
    s = store(tmp_path)
    s.add(Row(t=NOW - 5, host="h2", kind="circus", action="reap", watcher="w", user="u",
              detail={"exit_code": -9}))
    s.add(Row(t=NOW - 10, host="h1", kind="host", action="down", detail={"reason": "eof"}))
    assert s.flush()
    got = rows(s)
    assert [(r.host, r.kind, r.action) for r in got] == [("h1", "host", "down"),
                                                         ("h2", "circus", "reap")]
    assert got[1].detail == {"exit_code": -9} and got[1].source == "live"
    s.close()


def test_query_filters(tmp_path):
    s = store(tmp_path)
    for i in range(10):
        s.add(Row(t=NOW - 1000 + i * 100, host=f"h{i % 2}", kind="circus" if i % 3 else "unit",
                  action="reap", watcher=f"w{i % 4}"))
    s.add(Row(t=NOW - 950, host="h0", kind="gap", action="unknown", until=NOW - 350,
              source="gap"))
    s.flush()
    assert {r.host for r in s.query(hosts=["h1"])} == {"h1"}
    assert {r.kind for r in s.query(kinds=["unit"])} == {"unit"}
    assert len(s.query(since=NOW - 500)) == 5 + 1  # the gap reaches into the window
    assert all(r.t <= NOW - 700 for r in s.query(until=NOW - 700))
    w = s.query(watcher="w1")
    assert {r.watcher for r in w if r.kind != "gap"} == {"w1"} and any(r.kind == "gap" for r in w)
    newest = s.query(limit=3)
    assert [r.t for r in newest] == sorted(r.t for r in rows(s))[-3:]
    s.close()


def test_retention_removes_rows_older_than_days(tmp_path):
    s = store(tmp_path, days=1)
    s.add(Row(t=NOW - 3 * 86400, host="h", kind="unit", action="old"))
    s.add(Row(t=NOW - 3600, host="h", kind="unit", action="new"))
    s.flush()
    s.close()
    s = store(tmp_path, days=1)  # opening prunes, as the writer does every minute
    assert [r.action for r in rows(s)] == ["new"]
    s.close()


def test_size_bound_drops_the_oldest(tmp_path):
    s = store(tmp_path, max_mb=0.25)
    for i in range(6000):
        s.add(Row(t=NOW - 6000 + i, host="h", kind="journal", action="x",
                  detail={"message": "m" * 100}))
    s.flush()
    s.close()
    before = sqlite3.connect(tmp_path / "h.db").execute("SELECT count(*) FROM events").fetchone()
    s = store(tmp_path, max_mb=0.25)
    assert s.size() <= 0.25 * 1024 * 1024
    got = rows(s)
    assert 0 < len(got) < before[0]
    assert got[-1].t == NOW - 1  # the newest kept, the oldest gone
    s.close()


def test_a_database_one_version_old_is_migrated(tmp_path):
    path = tmp_path / "h.db"
    db = sqlite3.connect(path, isolation_level=None)
    hdb.migrate(db, upto=hdb.VERSION - 1)
    if hdb.VERSION - 1 >= 1:
        db.execute("INSERT INTO events (t, rt, host, kind) VALUES (?, ?, 'h', 'unit')",
                   (NOW, NOW))
    db.close()
    s = store(tmp_path)
    assert hdb.schema_version(s.reader()) == hdb.VERSION
    got = rows(s)
    assert len(got) == 1 and got[0].source == "live" and got[0].until is None
    s.add(Row(t=NOW, host="h", kind="gap", until=NOW + 1, source="gap"))
    s.flush()
    assert len(rows(s)) == 2
    s.close()


def test_a_newer_schema_is_refused_with_one_warning(tmp_path):
    path = tmp_path / "h.db"
    db = sqlite3.connect(path, isolation_level=None)
    hdb.migrate(db)
    db.execute("UPDATE schema_version SET version = ?", (hdb.VERSION + 1,))
    db.close()
    warns: list[str] = []
    assert open_store(HistorySettings(path=str(path)), warns.append) is None
    assert len(warns) == 1 and "newer" in warns[0] and "without history" in warns[0]
    assert "\n" not in warns[0]


def test_a_garbage_file_is_one_warning_and_no_history(tmp_path):
    path = tmp_path / "h.db"
    path.write_bytes(b"this is not sqlite at all\n" * 200)
    warns: list[str] = []
    assert open_store(HistorySettings(path=str(path)), warns.append) is None
    assert len(warns) == 1 and str(path) in warns[0] and "without history" in warns[0]
    assert path.read_bytes().startswith(b"this is not sqlite")  # left as it was


def test_a_locked_database_is_one_warning_and_no_history(tmp_path):
    path = tmp_path / "h.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")
    warns: list[str] = []
    try:
        assert open_store(HistorySettings(path=str(path)), warns.append) is None
    finally:
        holder.close()
    assert len(warns) == 1 and "locked" in warns[0]


def test_a_store_that_fails_later_warns_once_and_drops_rows(tmp_path):
    warns: list[str] = []
    s = store(tmp_path, warns)
    holder = sqlite3.connect(tmp_path / "h.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # in WAL mode: every other writer waits, then fails
    try:
        for _ in range(3):
            s.add(Row(t=NOW, host="h", kind="unit"))
        s.flush(timeout=15)
    finally:
        holder.close()
    assert s.failed and len(warns) == 1 and "without history" in warns[0]
    assert s.add(Row(t=NOW, host="h", kind="unit")) is False


def test_a_full_queue_drops_and_counts(tmp_path):
    s = store(tmp_path, queue_max=5)
    holder = sqlite3.connect(tmp_path / "h.db", isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")  # the writer waits on the lock: the queue fills
    ok = [s.add(Row(t=NOW, host="h", kind="unit")) for _ in range(200)]
    holder.execute("ROLLBACK")
    holder.close()
    assert not all(ok) and s.dropped == ok.count(False)
    s.flush()
    gaps = s.query(kinds=["gap"])
    assert [(g.action, g.detail["count"]) for g in gaps] == [("dropped", s.dropped)]
    s.close()


def test_a_batch_counts_row_by_row_against_the_bound(tmp_path):
    """The recorder's batches are one queue item, yet the bound is in rows: what does
    not fit is dropped and counted, and the record says so as a gap."""
    s = store(tmp_path, queue_max=5)
    holder = sqlite3.connect(tmp_path / "h.db", isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")  # the writer waits on the lock: the queue fills
    taken = [s.add_many([Row(t=NOW + i, host="h", kind="unit", action=str(i))
                         for i in range(3)]) for _ in range(4)]
    holder.execute("ROLLBACK")
    holder.close()
    assert sum(taken) <= 5 + 3 and s.dropped == 12 - sum(taken) and s.dropped >= 4
    s.flush()
    assert len(s.query(kinds=["unit"])) == sum(taken)
    gaps = s.query(kinds=["gap"])
    assert [(g.action, g.detail["count"]) for g in gaps] == [("dropped", s.dropped)]
    s.close()


def test_last_seen_survives_a_reopen(tmp_path):
    s = store(tmp_path)
    s.seen("h1", NOW - 30)
    s.seen_all_due()
    s.flush()
    s.close()
    s = store(tmp_path)
    assert s.last_seen("h1") == pytest.approx(NOW - 30)
    assert s.last_seen("h2") is None
    s.close()


def test_flapping_ranks_by_exits_per_hour(tmp_path):
    s = store(tmp_path)
    for i in range(6):
        s.add(Row(t=NOW - 100 - i, host="h", kind="circus", action="reap", watcher="bad"))
    s.add(Row(t=NOW - 100, host="h", kind="circus", action="reap", watcher="ok"))
    s.add(Row(t=NOW - 100, host="h", kind="circus", action="spawn", watcher="ok"))
    s.flush()
    got = hdb.flapping(s.reader(), NOW - 7200, NOW)
    assert [(f.watcher, f.exits) for f in got] == [("bad", 6), ("ok", 1)]
    assert got[0].per_hour == pytest.approx(3.0)
    s.close()


def test_host_strings_are_cleaned_in_the_table():
    r = Row(t=NOW, host="h\x1b[2J", kind="journal", source="backfill",
            detail={"message": "evil\x1b]0;title\x07 line"})
    out = table([r])
    assert "\x1b" not in out and "\x07" not in out and " ~ " in out


def test_parse_when():
    assert parse_when("2h", 10000.0) == 10000.0 - 7200
    assert parse_when("@123.5", 0) == 123.5
    assert parse_when("now", 5.0) == 5.0
    with pytest.raises(ValueError, match="give an age"):
        parse_when("yesterday", 0)


def test_users_file_history_key():
    cfg = parse_config("users: [u]\nhistory: {days: 7, max_mb: 5, path: /x/h.db}\n", "f.yaml")
    assert (cfg.history.days, cfg.history.max_mb, str(cfg.history.db_path())) == \
        (7, 5, "/x/h.db")
    assert parse_config("users: [u]\nhistory: false\n").history.enabled is False
    with pytest.raises(ConfigError, match=r"f.yaml:3: 'history' days must be"):
        parse_config("users: [u]\nhistory:\n  days: -1\n", "f.yaml")
    with pytest.raises(ConfigError, match="unknown key 'dayz' in 'history'"):
        parse_config("users: [u]\nhistory: {dayz: 1}\n", "f.yaml")


def _barnum(tmp_path, *args):
    users = tmp_path / "users.yaml"
    users.write_text(f"users: [root]\nhistory: {{path: {tmp_path / 'h.db'}}}\n")
    return subprocess.run([sys.executable, "-m", "barnum", "--config", str(users),
                           "history", *args], capture_output=True, text=True, timeout=60)


def test_barnum_history_command_filters_and_json(tmp_path):
    s = store(tmp_path)
    s.add(Row(t=NOW - 60, host="h1", kind="circus", action="reap", watcher="w", user="root",
              detail={"exit_code": 1, "process_pid": 7}))
    s.add(Row(t=NOW - 30, host="h2", kind="host", action="down", detail={"reason": "eof"}))
    s.add(Row(t=NOW - 3 * 3600, host="h1", kind="unit", action="failed/failed"))
    s.flush()
    s.close()
    p = _barnum(tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert [r["what"] for r in doc["rows"]] == ["reap pid 7 exit 1", "host down: eof"]
    p = _barnum(tmp_path, "h1", "--since", "1d")
    lines = p.stdout.splitlines()
    assert len(lines) == 3 and "failed/failed" in lines[1] and "exit 1" in lines[2]
    p = _barnum(tmp_path, "--since", "soon")
    assert p.returncode == 2 and "give an age" in p.stderr


def test_barnum_history_on_a_garbage_file_is_one_line(tmp_path):
    (tmp_path / "h.db").write_bytes(b"garbage" * 1000)
    p = _barnum(tmp_path)
    assert p.returncode == 2
    assert len([ln for ln in p.stderr.splitlines() if "h.db" in ln]) == 1
    assert "not a database" in p.stderr


# Events as the session delivered them on the fleet (barnum.live.wire-checked shapes).
REAP = {"unit": "circus_user1_host1.service", "user": "user1", "watcher": "sleeper",
        "action": "reap", "data": {"process_pid": 89, "time": 1796405930.467572,
                                   "exit_code": -15}}
UNIT = {"unit": "circus_user1_host1.service", "user": "user1", "active_state": "active",
        "sub_state": "running", "unit_file_state": "enabled", "n_restarts": 0, "main_pid": 127}


def test_circus_event_row_takes_the_host_time_when_sane():
    from barnum.history.recorder import circus_row

    r = circus_row("host1", REAP, 1796405930.9)
    assert (r.t, r.ht, r.rt) == (1796405930.467572, 1796405930.467572, 1796405930.9)
    assert r.detail == {"process_pid": 89, "exit_code": -15} and r.watcher == "sleeper"
    far = circus_row("host1", REAP, 1796405930.9 + 3600)  # a host clock an hour off
    assert far.ht is None and far.t == far.rt


def test_unit_event_row():
    from barnum.history.recorder import unit_row

    r = unit_row("host1", UNIT, 5.0)
    assert (r.kind, r.action, r.t, r.detail["main_pid"]) == ("unit", "active/running", 5.0, 127)
    assert unit_row("host1", {"unit": "u", "removed": True}, 5.0).action == "removed"


def test_circusd_and_systemd_journal_lines_name_what_happened():
    from barnum.history.recorder import circus_message

    assert circus_message("2026-12-04 17:35:49 circus[77] [INFO] ticker stopped") == \
        ("ticker", "stop")
    assert circus_message("2026-12-04 17:35:50 circus[77] [INFO] ticker started") == \
        ("ticker", "start")
    assert circus_message("Stopped circus_user1_host1.service - circus of user1 on host1.") \
        == (None, "unit stopped")
    assert circus_message("[INFO] Arbiter now waiting for commands") == (None, None)


def test_journal_since_is_whole_seconds_on_the_command_line():
    from bailey.journal import journal_argv

    argv = journal_argv("circus_u_h.service", 5000, False, 1796405930.9)
    assert argv[-2:] == ["--since", "@1796405930"]  # a second early: barnum filters
    assert "--since" not in journal_argv("circus_u_h.service", 5, False)
