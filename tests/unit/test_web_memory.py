"""systemd's memory per unit on the page and in /metrics (from the recorded fleet snapshot).

A report carries the unit's MemoryCurrent; a newer stats answer carries it too
and wins; a unit systemd does not account shows "n/a" and no metric sample.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.unit.webkit import RecordedSession, client, make_web


def _edit(doc):
    for inst in doc["hosts"]["host1"]["report"]["instances"]:
        inst["memory_current"] = 30040064 if inst["user"] == "user1" else None
    for inst in doc["hosts"]["host2"]["report"]["instances"]:
        inst["memory_current"] = 5
    for inst in doc["stats"]["host2"]["instances"]:
        inst["memory_current"] = 3 * 1024 * 1024  # newer than the report's


def test_unit_memory_in_metrics_and_page(tmp_path):
    web = make_web(tmp_path, RecordedSession(_edit))
    c = client(web)
    fams = {f.name: f for f in text_string_to_metric_families(c.get("/metrics").text)}
    mem = {(s.labels["host"], s.labels["user"]): s.value
           for s in fams["barnum_unit_memory_bytes"].samples}
    assert mem[("host1", "user1")] == 30040064
    assert ("host1", "user2") not in mem  # not accounted: no sample, not a 0
    assert all(v == 3 * 1024 * 1024 for (h, _), v in mem.items() if h == "host2")
    page = c.get("/").text
    assert "mem 28.6 MiB" in page and "mem 3.0 MiB" in page and "mem n/a" in page
    api = c.get("/api/fleet").json()
    rows = {(h["host"], i["user"]): i["memory_current"] for h in api["hosts"]
            for i in h["instances"]}
    assert rows[("host1", "user1")] == 30040064 and rows[("host1", "user2")] is None
