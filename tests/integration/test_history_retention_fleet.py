"""Retention on the real fleet: the running recorder's writer removes what is past the
bounds (age, then size), and keeps what is within them.

Bounds are made tiny (seconds, a fraction of a MB) and the writer prunes every
second instead of every minute; the rows come from circus events staged on a host.
"""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from barnum.history.recorder import Recorder
from barnum.history.store import Row, open_store
from barnum.live.session import FleetSession
from barnum.model.config import HistorySettings, load_config
from barnum.transport.options import Options
from tests.e2e.test_barnum_e2e import circusctl
from tests.waiting import until

pytestmark = pytest.mark.fleet

HOST, USER = "host1", "user1"
TIMEOUT = 4
AGE = 20.0  # seconds a row is kept, in the age test


@pytest.fixture
def opened(fleet, tmp_path):
    """A session over the fleet and a way to start a recorder with given bounds."""
    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config), timeout=TIMEOUT)
    session = FleetSession(cfg, opts).open()
    made: list = []

    def start(days: float = 30.0, max_mb: float = 100.0):
        store = open_store(HistorySettings(path=str(tmp_path / "history.db"), days=days,
                                           max_mb=max_mb), print, prune_every=1.0)
        assert store is not None
        made.append((Recorder(session, store, backfill=False).start(), store))
        return store

    yield start
    for rec, store in made:
        rec.close()
        store.close()
    session.close()


def _toggle(fleet) -> float:
    """Stop and start the ticker watcher on the host: circus rows; when it began."""
    t = time.time()
    ep = f"tcp://127.0.0.1:{fleet.port(USER)}"
    assert circusctl(fleet, HOST, ep, "stop", "ticker").returncode == 0
    assert circusctl(fleet, HOST, ep, "start", "ticker").returncode == 0
    return t


def _ticker(store, after: float) -> list[Row]:
    store.flush()
    return [r for r in store.query(kinds=["circus"], hosts=[HOST])
            if r.watcher == "ticker" and r.action in ("stop", "start") and r.t >= after - 1]


def test_rows_past_the_age_bound_are_removed_while_newer_stay(fleet, opened):
    store = opened(days=AGE / 86400)
    first = _toggle(fleet)
    assert until(lambda: len(_ticker(store, first)) >= 2, 20), "the first events recorded"
    until(lambda: time.time() > first + AGE / 2, AGE)
    second = _toggle(fleet)
    assert until(lambda: len(_ticker(store, second)) >= 2, 20), "the second events recorded"
    # the first events age out while the second, younger than the bound, are still there
    def state() -> tuple[list[Row], list[Row]]:
        store.flush()
        return [r for r in store.query() if r.t < first + 2], _ticker(store, second)

    assert until(lambda: not state()[0], AGE + 8, 0.5), state()[0]
    old, kept = state()
    assert not old and len(kept) >= 2, (old, kept)
    assert all(r.t >= time.time() - AGE - 3 for r in store.query())


def _size(path) -> int:
    """Bytes of rows and log, read as the store counts them, on a connection of our own."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        pages, free, size = (db.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_count", "freelist_count", "page_size"))
    finally:
        db.close()
    wal = path.with_name(path.name + "-wal")
    return (pages - free) * size + (wal.stat().st_size if wal.exists() else 0)


def test_the_size_bound_drops_the_oldest_rows_first(fleet, opened, tmp_path):
    bound_mb = 0.25
    store = opened(max_mb=bound_mb)
    now = time.time()
    pad = "x" * 400
    # older rows (within the age bound) that together pass the size bound
    for i in range(2000):
        store.add(Row(t=now - 3600 + i, host=HOST, kind="journal", action="filler",
                      source="backfill", detail={"n": i, "pad": pad}))
    store.flush()
    live = _toggle(fleet)
    assert until(lambda: len(_ticker(store, live)) >= 2, 20), "the live events recorded"

    path = tmp_path / "history.db"

    def bounded() -> bool:
        store.flush()
        return _size(path) <= bound_mb * 1024 * 1024

    assert until(bounded, 20, 0.5), f"{_size(path)} bytes, bound {bound_mb} MB"
    fill = sorted(r.detail["n"] for r in store.query(kinds=["journal"]))
    assert fill and fill[0] > 0 and fill[-1] == 1999  # the oldest went, the newest stayed
    assert fill == list(range(fill[0], 2000))  # oldest first, no holes
    assert len(_ticker(store, live)) >= 2  # the live rows, newest of all, are kept
    assert os.path.getsize(path) <= 2 * bound_mb * 1024 * 1024  # vacuumed: the file too
