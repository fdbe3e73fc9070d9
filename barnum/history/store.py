"""The history store: what the long-lived processes saw, in SQLite, across restarts.

    store = open_store(HistorySettings(), warn)     # None: barnum runs without history
    store.add(Row(t=..., host="h1", kind="circus", action="reap", watcher="w", ...))
    store.query(since=time.time() - 7200)           # list[Row], oldest first

One writer thread owns the writing connection and is fed by a bounded queue
(a flood drops rows and counts them, never blocks the session); readers open
their own connections (WAL mode lets them read while it writes).  The file is
bounded by age (``days``) and size (``max_mb``): the writer deletes the oldest
rows.  A corrupt, locked or too-new database is one warning, then no history.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from barnum.model.config import DEFAULT_DAYS, DEFAULT_MAX_MB, HistorySettings

QUEUE_MAX = 20000
BATCH = 2000
COALESCE = 5.0  # seconds the writer gathers rows before one transaction
PRUNE_EVERY = 60.0  # seconds between two retention passes
SEEN_EVERY = 10.0  # seconds between two writes of a host's last contact
OPEN_TIMEOUT = 1.0  # seconds a locked database may keep us waiting at the start
WRITE_TIMEOUT = 5.0  # and the writer, later (another barnum writing the same file)

# Each migration takes the schema from version i to i+1; applied in order, each in
# its own transaction, so a database at any older version comes up to date.
MIGRATIONS: list[list[str]] = [
    [  # 1: the events
        "CREATE TABLE events (id INTEGER PRIMARY KEY, t REAL NOT NULL, rt REAL NOT NULL,"
        " host TEXT NOT NULL, kind TEXT NOT NULL, user TEXT, unit TEXT, watcher TEXT,"
        " action TEXT, detail TEXT)",
        "CREATE INDEX events_t ON events (t)",
    ],
    [  # 2: where a row came from (live | backfill | gap), a gap's end, host time apart
        "ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'live'",
        "ALTER TABLE events ADD COLUMN until REAL",
        "ALTER TABLE events ADD COLUMN ht REAL",
        "CREATE TABLE seen (host TEXT PRIMARY KEY, t REAL NOT NULL)",
    ],
    [  # 3: gaps that began before a window are found without a scan
        "CREATE INDEX events_kind_t ON events (kind, t)",
    ],
]
VERSION = len(MIGRATIONS)
# one encoder for every row: json.dumps with options builds a new one per call
_ENCODE = json.JSONEncoder(sort_keys=True, default=str).encode
COLUMNS = ("t", "rt", "ht", "host", "kind", "user", "unit", "watcher", "action", "detail",
           "source", "until")


class HistoryError(Exception):
    """The store cannot be used; the message is one line for the operator."""


@dataclass
class Row:
    """One thing that happened.  ``t`` is the best time known (the host's when it gave
    one, else ``rt``, when barnum received it); ``ht`` the host's own, if any.
    ``source``: live (seen as it happened), backfill (read later from the host's
    journal) or gap (nothing is known from ``t`` to ``until``)."""

    t: float
    host: str
    kind: str  # circus | unit | host | action | journal | gap
    action: str | None = None
    user: str | None = None
    unit: str | None = None
    watcher: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    rt: float = field(default_factory=time.time)
    ht: float | None = None
    source: str = "live"
    until: float | None = None

    def values(self) -> tuple:
        return (self.t, self.rt, self.ht, self.host, self.kind, self.user, self.unit,
                self.watcher, self.action,
                _ENCODE(self.detail) if self.detail else None,
                self.source, self.until)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _row(values: tuple) -> Row:
    t, rt, ht, host, kind, user, unit, watcher, action, detail, source, until = values
    try:
        d = json.loads(detail) if detail else {}
    except ValueError:
        d = {}
    return Row(t=t, rt=rt, ht=ht, host=host, kind=kind, user=user, unit=unit,
               watcher=watcher, action=action, detail=d if isinstance(d, dict) else {},
               source=source, until=until)


def connect(path: Path, timeout: float = OPEN_TIMEOUT) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=timeout, check_same_thread=False,
                         isolation_level=None)
    return db


def schema_version(db: sqlite3.Connection) -> int:
    """0 for a new, empty database."""
    has = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND "
                     "name='schema_version'").fetchone()
    if not has:
        return 0
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite3.Connection, upto: int = VERSION) -> int:
    """Bring the schema to ``upto``; HistoryError for a newer one than this barnum knows."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        have = schema_version(db)
        if have > upto:
            raise HistoryError(f"schema version {have} is newer than this barnum's {upto}")
        if not db.execute("SELECT 1 FROM schema_version").fetchone():
            db.execute("INSERT INTO schema_version VALUES (0)")
        for i in range(have, upto):
            for stmt in MIGRATIONS[i]:
                db.execute(stmt)
            db.execute("UPDATE schema_version SET version = ?", (i + 1,))
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    return upto


def _say(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


class HistoryStore:
    """The open store: ``add`` from any thread, ``query`` on a reader connection."""

    def __init__(self, path: Path, days: float = DEFAULT_DAYS, max_mb: float = DEFAULT_MAX_MB,
                 warn: Callable[[str], None] | None = None, queue_max: int = QUEUE_MAX,
                 prune_every: float = PRUNE_EVERY) -> None:
        self.path = Path(path)
        self.days = days
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.warn = warn or (lambda _m: None)
        self.q: queue.Queue[Any] = queue.Queue()  # bounded in rows: ``queued``
        self.queue_max = queue_max
        self.prune_every = prune_every
        self.queued = 0  # rows in the queue, single or in batches
        self.dropped = 0
        self._told_dropped = 0
        self.written = 0
        self.failed: str | None = None
        self.cpu = 0.0
        self._urgent = threading.Event()  # a flush waits: no nap before the next write
        self._seen: dict[str, float] = {}
        self._seen_written: dict[str, float] = {}
        self._lock = threading.Lock()
        self._readers = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self.db = connect(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            migrate(self.db)
            self.prune()
            self.db.execute(f"PRAGMA busy_timeout={int(WRITE_TIMEOUT * 1000)}")
        except (sqlite3.Error, HistoryError) as e:
            with contextlib.suppress(Exception):
                self.db.close()
            raise HistoryError(f"history {self.path}: {_say(e)}") from None
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
        self._thread = threading.Thread(target=self._writer, daemon=True, name="history-writer")
        self._thread.start()

    # -- writing (any thread) ---------------------------------------------------------------

    def add(self, row: Row) -> bool:
        """Queue one row; False (and counted) when the writer is behind or gone."""
        return self.add_many([row]) == 1

    def add_many(self, rows: list[Row]) -> int:
        """Queue rows as one item (the recorder's batch); how many were taken, the
        rest dropped and counted when the writer is behind."""
        if self.failed is not None or not rows:
            return 0
        with self._lock:
            room = max(0, self.queue_max - self.queued)
            take = rows if len(rows) <= room else rows[:room]
            self.dropped += len(rows) - len(take)
            self.queued += len(take)
        if take:
            self.q.put_nowait(take)
        return len(take)

    def seen(self, host: str, t: float | None = None) -> None:
        """The session heard from ``host`` at ``t``: where a later gap starts."""
        t = time.time() if t is None else t
        with self._lock:
            self._seen[host] = t

    def seen_many(self, heard: dict[str, float]) -> None:
        """``seen`` for several hosts under one lock."""
        with self._lock:
            self._seen.update(heard)

    def seen_all_due(self) -> None:
        """Write every host's last contact with the next batch (at close)."""
        with self._lock:
            self._seen_written.clear()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (tests, shutdown)."""
        done = threading.Event()
        self.q.put(done)
        self._urgent.set()
        return done.wait(timeout)

    def close(self) -> None:
        self.flush(5.0)
        self.q.put(None)
        self._thread.join(5.0)

    # -- the writer thread --------------------------------------------------------------------

    def _writer(self) -> None:
        last_prune = time.monotonic()
        while True:
            # idle, it wakes only when a host's last contact or a retention pass is due
            nap = min(SEEN_EVERY, self.prune_every - (time.monotonic() - last_prune))
            try:
                item = self.q.get(timeout=max(0.05, nap))
            except queue.Empty:
                item = ...
            started = time.monotonic()
            batch_waited = item is ...
            self._urgent.clear()
            batch: list[Row] = []
            marks: list[threading.Event] = []
            stop = False
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    marks.append(item)
                elif isinstance(item, list):
                    batch += item
                if stop or len(batch) >= BATCH:
                    break
                try:
                    item = self.q.get_nowait()
                except queue.Empty:
                    if marks or batch_waited:
                        break
                    batch_waited = True  # one nap per batch: one transaction for a burst,
                    self._urgent.wait(max(0.0, COALESCE - (time.monotonic() - started)))
                    item = ...  # and no wake-up per row (a flush cuts it short)
            with self._lock:
                self.queued -= len(batch)
            try:
                self._write(batch)
                if time.monotonic() - last_prune >= self.prune_every:
                    last_prune = time.monotonic()
                    self.prune()
            except sqlite3.Error as e:
                self._fail(e)
            self.cpu = time.thread_time()  # the writer's CPU so far (the bench reads it)
            for m in marks:
                m.set()
            if stop or self.failed is not None:
                with contextlib.suppress(sqlite3.Error):
                    self.db.close()
                self._drain()
                return

    def _drain(self) -> None:
        while True:
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, threading.Event):
                item.set()

    def _fail(self, e: BaseException) -> None:
        self.failed = _say(e)
        self.warn(f"warning: history {self.path}: {self.failed}; going on without history")

    def _write(self, batch: list[Row]) -> None:
        with self._lock:
            lost, self._told_dropped = self.dropped - self._told_dropped, self.dropped
        if lost:  # the queue was full: say so in the record, as a gap
            now = time.time()
            batch = [*batch, Row(t=now, host="", kind="gap", action="dropped", until=now,
                                 source="gap", detail={"count": lost, "why": "the history "
                                                       "writer fell behind"})]
        with self._lock:
            seen = [(h, t) for h, t in self._seen.items()
                    if t - self._seen_written.get(h, 0.0) >= SEEN_EVERY]
            for h, t in seen:
                self._seen_written[h] = t
        if not batch and not seen:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if batch:
                self.db.executemany(
                    f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(COLUMNS))})", [r.values() for r in batch])
            if seen:
                self.db.executemany("INSERT INTO seen (host, t) VALUES (?, ?) ON CONFLICT(host)"
                                    " DO UPDATE SET t = max(t, excluded.t)", seen)
            self.db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise
        self.written += len(batch)

    def prune(self, now: float | None = None) -> int:
        """Delete rows older than ``days``, then the oldest until under ``max_mb``."""
        now = time.time() if now is None else now
        gone = self.db.execute("DELETE FROM events WHERE t < ?",
                               (now - self.days * 86400,)).rowcount
        for _ in range(50):
            if self.size() <= self.max_bytes:
                break
            total = self.db.execute("SELECT count(*) FROM events").fetchone()[0]
            if not total:
                break
            n = max(1, total // 10)
            gone += self.db.execute("DELETE FROM events WHERE id IN (SELECT id FROM events "
                                    "ORDER BY t LIMIT ?)", (n,)).rowcount
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.execute("VACUUM")
        return gone

    def size(self) -> int:
        """Bytes the rows take (pages in use), plus the write-ahead log."""
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        size = self.db.execute("PRAGMA page_size").fetchone()[0]
        wal = 0
        with contextlib.suppress(OSError):
            wal = os.path.getsize(str(self.path) + "-wal")
        return (pages - free) * size + wal

    # -- reading (own connection per thread) -----------------------------------------------

    def reader(self) -> sqlite3.Connection:
        db = getattr(self._readers, "db", None)
        if db is None:
            db = self._readers.db = connect(self.path)
        return db

    def query(self, **kw: Any) -> list[Row]:
        return query(self.reader(), **kw)

    def last_seen(self, host: str) -> float | None:
        return last_seen(self.reader(), host)


def open_store(settings: HistorySettings | None, warn: Callable[[str], None],
               **kw: Any) -> HistoryStore | None:
    """The store, or None after one warning line when it cannot be used."""
    settings = settings or HistorySettings()
    if not settings.enabled:
        return None
    try:
        return HistoryStore(settings.db_path(), settings.days, settings.max_mb, warn, **kw)
    except HistoryError as e:
        warn(f"warning: {e}; going on without history")
    except OSError as e:
        warn(f"warning: history {settings.db_path()}: {e.strerror or e}; going on without "
             "history")
    return None


def open_reader(settings: HistorySettings) -> sqlite3.Connection:
    """A read-only connection for ``barnum history``; HistoryError if it cannot be read."""
    path = settings.db_path()
    if not path.exists():
        raise HistoryError(f"no history yet at {path} (barnum web records it)")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=OPEN_TIMEOUT,
                             isolation_level=None)
        have = schema_version(db)
        if have != VERSION:
            db.close()
            raise HistoryError(f"history {path}: schema version {have}, this barnum reads "
                               f"{VERSION}" + (" (a newer barnum wrote it)" if have > VERSION
                                               else " (barnum web migrates it)"))
        return db
    except sqlite3.Error as e:
        raise HistoryError(f"history {path}: {_say(e)}") from None


def query(db: sqlite3.Connection, since: float | None = None, until: float | None = None,
          hosts: Iterable[str] | None = None, watcher: str | None = None,
          kinds: Iterable[str] | None = None, limit: int | None = None) -> list[Row]:
    """Rows in the window, oldest first; ``limit`` keeps the newest ones.  A gap row
    overlapping the window is in it even when it started before."""
    hs = None if hosts is None else list(hosts)
    where, args = _filters(since, until, hs, watcher, kinds)
    sql = f"SELECT {', '.join(COLUMNS)} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if limit:
        sql = f"SELECT * FROM ({sql} ORDER BY t DESC, id DESC LIMIT {int(limit)})"
        rows = db.execute(sql, args).fetchall()
        rows.reverse()
    else:
        rows = db.execute(sql + " ORDER BY t, id", args).fetchall()
    if since is not None and (kinds is None or "gap" in kinds) and not (
            limit and len(rows) >= limit):
        # gaps begun before the window and reaching into it (an OR above would scan)
        gw = ["kind = 'gap'", "t < ?", "until >= ?"]
        ga: list[object] = [since, since]
        if hs is not None:
            gw.append(_in("host", hs))
            ga += hs
        early = db.execute(f"SELECT {', '.join(COLUMNS)} FROM events WHERE "
                           f"{' AND '.join(gw)} ORDER BY t, id", ga).fetchall()
        rows = early + rows
    return [_row(r) for r in rows]


def count(db: sqlite3.Connection, since: float | None = None, until: float | None = None,
          hosts: Iterable[str] | None = None, watcher: str | None = None,
          kinds: Iterable[str] | None = None) -> int:
    """How many rows ``query`` would give without a limit (gaps begun earlier aside)."""
    where, args = _filters(since, until, None if hosts is None else list(hosts), watcher,
                           kinds)
    sql = "SELECT count(*) FROM events" + (" WHERE " + " AND ".join(where) if where else "")
    return db.execute(sql, args).fetchone()[0]


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join('?' * len(values))})"


def _filters(since: float | None, until: float | None, hosts: list[str] | None,
             watcher: str | None, kinds: Iterable[str] | None
             ) -> tuple[list[str], list[object]]:
    """The WHERE terms and their arguments that ``query`` and ``count`` share (a
    watcher filter keeps gap rows: a gap hides every watcher of its host)."""
    where: list[str] = []
    args: list[object] = []
    if since is not None:
        where.append("t >= ?")
        args.append(since)
    if until is not None:
        where.append("t <= ?")
        args.append(until)
    if hosts is not None:
        where.append(_in("host", hosts))
        args += hosts
    if watcher is not None:
        where.append("(watcher = ? OR kind = 'gap')")
        args.append(watcher)
    if kinds is not None:
        ks = list(kinds)
        where.append(_in("kind", ks))
        args += ks
    return where, args


def hosts_users(db: sqlite3.Connection) -> dict[str, list[str]]:
    """Every host in the store with the users seen on it (for target expressions)."""
    out: dict[str, set[str]] = {}
    for host, user in db.execute("SELECT DISTINCT host, user FROM events"):
        out.setdefault(host, set())
        if user:
            out[host].add(user)
    return {h: sorted(u) for h, u in out.items()}


def last_seen(db: sqlite3.Connection, host: str) -> float | None:
    row = db.execute("SELECT t FROM seen WHERE host = ?", (host,)).fetchone()
    return float(row[0]) if row else None


@dataclass
class Flapping:
    host: str
    user: str | None
    watcher: str
    exits: int
    per_hour: float
    last: float


def flapping(db: sqlite3.Connection, since: float, until: float,
             hosts: Iterable[str] | None = None, watcher: str | None = None) -> list[Flapping]:
    """Watchers by exits (circus reaps, live or backfilled) per hour in the window."""
    where, args = _filters(since, until, None if hosts is None else list(hosts), None, None)
    where += ["kind = 'circus'", "action = 'reap'"]
    if watcher is not None:
        where.append("watcher = ?")
        args.append(watcher)
    hours = max((until - since) / 3600.0, 1e-9)
    rows = db.execute(f"SELECT host, user, watcher, count(*), max(t) FROM events WHERE "
                      f"{' AND '.join(where)} GROUP BY host, user, watcher", args).fetchall()
    out = [Flapping(h, u, w or "?", n, n / hours, last) for h, u, w, n, last in rows]
    out.sort(key=lambda f: (-f.exits, f.host, f.user or "", f.watcher))
    return out
