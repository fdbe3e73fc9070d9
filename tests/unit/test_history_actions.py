"""Actions into the history: the rows an audit entry becomes (the web page's Recorder
and the one-shot front ends write the same), and a one-shot action's record over a
store that works, and over one that does not."""

from __future__ import annotations

from barnum.history.actions import ActionLog, action_rows, record_action, result_word
from barnum.history.store import HistoryStore
from barnum.model.config import HistorySettings
from barnum.views.history import table

UNIT = "circus_user1_host1.service"


def test_one_row_per_host_with_who_and_result():
    items = [{"host": "host1", "user": "user1", "unit": UNIT, "ok": True, "error": None},
             {"host": "host2", "user": "user1", "watcher": "w", "ok": False, "error": "no"},
             {"host": "host2", "user": "user2", "watcher": "w", "ok": True, "error": None}]
    rows = action_rows("operator/ab12", "unit-restart", items, "1 of 3 failed", now=5.0,
                       plan="p1")
    assert [(r.host, r.user, r.unit, r.watcher) for r in rows] == [
        ("host1", "user1", UNIT, None), ("host2", None, None, None)]
    one, two = rows
    assert one.detail["who"] == "operator/ab12" and one.detail["result"] == "1 of 3 failed"
    assert one.detail["ok"] is True and one.detail["plan"] == "p1" and one.t == 5.0
    assert [i["error"] for i in two.detail["items"]] == ["no", None]
    assert "unit" not in two.detail["items"][0]  # watcher rows keep their old shape
    (nothing,) = action_rows("root", "stop", [], "broke off: OSError")
    assert nothing.host == "" and nothing.detail["result"] == "broke off: OSError"


def test_result_word():
    assert result_word([{"ok": True}]) == "ok"
    assert result_word([{"ok": True}, {"ok": False}]) == "1 of 2 failed"


def test_a_one_shot_action_is_in_the_store_with_the_local_user(tmp_path, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    settings = HistorySettings(path=str(tmp_path / "h.db"))
    warns: list[str] = []
    log = ActionLog(settings, warns.append, "unit-restart", "barnum unit")
    log.record([{"host": "host1", "user": "user1", "unit": UNIT}], "started")
    log.record([{"host": "host1", "user": "user1", "unit": UNIT, "ok": False,
                 "error": "denied: sudo -n refused"}], "1 of 1 failed")
    assert warns == []
    s = HistoryStore(tmp_path / "h.db")
    rows = s.query(kinds=["action"])
    s.close()
    assert [(r.action, r.unit, r.detail["who"], r.detail["result"]) for r in rows] == [
        ("unit-restart", UNIT, "alice", "started"),
        ("unit-restart", UNIT, "alice", "1 of 1 failed")]
    assert rows[1].detail["via"] == "barnum unit"
    text = table(rows)
    assert "unit-restart by alice (as alice): 1 of 1 failed: denied: sudo -n refused" in text


def test_an_unusable_store_is_one_warning_and_the_action_goes_on(tmp_path):
    path = tmp_path / "h.db"
    path.write_bytes(b"not a database" * 500)
    warns: list[str] = []
    log = ActionLog(HistorySettings(path=str(path)), warns.append, "stop", "barnum stop")
    log.record([{"host": "host1", "user": "user1", "watcher": "w"}], "started")
    log.record([{"host": "host1", "user": "user1", "watcher": "w"}], "ok")
    assert len(warns) == 1 and str(path) in warns[0]
    assert path.read_bytes().startswith(b"not a database")  # left as it was
    assert record_action(HistorySettings(enabled=False), warns.append, "stop", [], "ok") is False
    assert len(warns) == 1  # history off: silent


def test_a_repeated_circus_event_is_recorded_once_also_past_the_memory():
    """The recorder's memory of recent events (details by key beside a bounded deque): a repeat is
    dropped, an event older than the memory is new again, a list value still compares."""
    from barnum.history.recorder import Recorder
    from barnum.history.store import Row

    rec = Recorder(session=None, store=None)  # type: ignore[arg-type]

    def row(n, **detail):
        return Row(t=float(n), ht=float(n), host="h", kind="circus", action="reap",
                   watcher="w", detail={"pid": n, **detail})

    assert not rec._again(row(1)) and rec._again(row(1))
    assert not rec._again(row(2, args=["a"])) and rec._again(row(2, args=["a"]))
    for n in range(3, 3 + 256):
        assert not rec._again(row(n))
    assert not rec._again(row(1))  # pushed out of the memory: new again
    assert len(rec._order) <= 256 and sum(map(len, rec._recent.values())) <= 256
