"""Who may use the page: tokens, sessions, CSRF, and the Origin and Host checks.

- Two random tokens, operator and read-only, made at first start and kept in
  a 0600 JSON file (a file anyone else can read, or that is not a regular
  file, is refused rather than trusted).  ``barnum web --rotate-token``
  writes a new operator token there; a running server re-reads the file when
  it changes, so the old token stops working at once, and so do the sessions
  it opened.
- A token is only ever POSTed (the sign-in form), never put in a URL, so it
  stays out of the browser's history.  The link printed at start carries a
  one-time code instead, exchanged by POST and dropped from the address bar.
- A token opens a server-side session: the cookie holds only a random id
  (``HttpOnly``, ``SameSite=Strict``, ``Secure`` under TLS, no expiry beyond
  the browser session; the server forgets it after ``SESSION_TTL``).
- Each session has its own CSRF token; every POST must carry it
  (``X-CSRF-Token`` header or a ``csrf`` form field) and an ``Origin`` equal to
  the page's own.  The ``Host`` header must be one the server answers to
  (against DNS rebinding).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from barnum import EXIT_USAGE, BarnumError

OPERATOR, READONLY = "operator", "readonly"
COOKIE = "barnum_session"
SESSION_TTL = 12 * 3600.0
SESSIONS_MAX = 1000


@dataclass(frozen=True)
class Tokens:
    operator: str
    readonly: str

    def role_of(self, presented: str | None) -> str | None:
        """The role a presented token grants (constant-time comparisons), or None."""
        if not presented or not isinstance(presented, str):
            return None
        p = presented.encode()
        if hmac.compare_digest(p, self.operator.encode()):
            return OPERATOR
        if hmac.compare_digest(p, self.readonly.encode()):
            return READONLY
        return None

    def grant(self, role: str) -> str:
        """A non-secret tag of the role's current token: a session opened under
        another tag (before a rotation) is no longer valid."""
        token = self.operator if role == OPERATOR else self.readonly
        return hashlib.sha256(f"{role}:{token}".encode()).hexdigest()[:16]


class TokenFile:
    """The tokens of a file, re-read when the file changes (``--rotate-token`` from
    another process).  A file that turns unreadable or unsafe grants nothing."""

    def __init__(self, path: Path, warn=None) -> None:
        self.path = Path(path)
        self.warn = warn or (lambda _m: None)
        self._lock = threading.Lock()
        self._tokens: Tokens | None = load_or_create_tokens(self.path)
        self._seen = self._stamp()

    def _stamp(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode)

    def current(self) -> Tokens | None:
        stamp = self._stamp()
        with self._lock:
            if stamp != self._seen:
                self._seen = stamp
                try:
                    if stamp is None:
                        raise BarnumError(f"token file {self.path}: gone")
                    self._tokens = load_or_create_tokens(self.path)
                except BarnumError as e:
                    self._tokens = None  # fail closed: nobody signs in until it is fixed
                    self.warn(f"warning: {e}; no token is accepted until it is fixed")
            return self._tokens

    @property
    def operator(self) -> str:
        t = self.current()
        return t.operator if t else ""

    @property
    def readonly(self) -> str:
        t = self.current()
        return t.readonly if t else ""

    def role_of(self, presented: str | None) -> str | None:
        t = self.current()
        return t.role_of(presented) if t else None

    def grant(self, role: str) -> str:
        t = self.current()
        return t.grant(role) if t else "none"


def rotate_operator_token(path: Path) -> Tokens:
    """A new random operator token in ``path`` (0600, replaced atomically); the
    read-only token is kept.  The file must already be barnum's and safe."""
    path = Path(path)
    if not path.exists():
        return load_or_create_tokens(path)  # first start: both new already
    old = load_or_create_tokens(path)  # refuses an unsafe or foreign file
    new = Tokens(secrets.token_urlsafe(32), old.readonly)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"operator": new.operator, "readonly": new.readonly}, f)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return new


def default_state_dir() -> Path:
    """Where ``barnum web`` keeps tokens.json and audit.log without --state-dir."""
    return Path.home() / ".config" / "barnum" / "web"


LOGIN_CODE_TTL = 900.0
LOGIN_CODES_MAX = 100


class LoginCodes:
    """One-time sign-in codes (the link ``barnum web`` prints): each works once,
    for ``LOGIN_CODE_TTL`` seconds, and only while the token it stands for is
    current.  Kept by their hash, so a lookup reveals nothing by its timing."""

    def __init__(self, ttl: float = LOGIN_CODE_TTL) -> None:
        self.ttl = ttl
        self._codes: dict[str, tuple[str, str, float]] = {}  # sha256 -> role, grant, expiry
        self._lock = threading.Lock()

    @staticmethod
    def _key(code: str) -> str:
        return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()

    def issue(self, role: str, grant: str) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = time.time()
            for k in [k for k, v in self._codes.items() if v[2] < now]:
                del self._codes[k]
            while len(self._codes) >= LOGIN_CODES_MAX:
                self._codes.pop(next(iter(self._codes)))
            self._codes[self._key(code)] = (role, grant, now + self.ttl)
        return code

    def take(self, code: str | None) -> tuple[str, str] | None:
        """(role, grant) of a valid code, which is then spent; else None."""
        if not code or not isinstance(code, str) or len(code) > 200:
            return None
        with self._lock:
            got = self._codes.pop(self._key(code), None)
        if got is None or got[2] < time.time():
            return None
        return got[0], got[1]


def load_or_create_tokens(path: Path) -> Tokens:
    """The tokens of ``path``, made (0600, exclusively) if the file does not exist."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return _create(path)
    except OSError as e:
        raise BarnumError(f"token file {path}: {e.strerror}", EXIT_USAGE) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise BarnumError(f"token file {path}: not a regular file", EXIT_USAGE)
        if st.st_mode & 0o077:
            raise BarnumError(f"token file {path}: readable by others (mode "
                              f"{stat.S_IMODE(st.st_mode):04o}); chmod 600 it", EXIT_USAGE)
        if st.st_uid != os.geteuid():
            raise BarnumError(f"token file {path}: owned by another user", EXIT_USAGE)
        data = f.read(4096)
    try:
        doc = json.loads(data)
        tokens = Tokens(str(doc["operator"]), str(doc["readonly"]))
    except (ValueError, KeyError, TypeError):
        raise BarnumError(f"token file {path}: not barnum's token file (delete it to make "
                          "new tokens)", EXIT_USAGE) from None
    if min(len(tokens.operator), len(tokens.readonly)) < 20:
        raise BarnumError(f"token file {path}: tokens too short", EXIT_USAGE)
    return tokens


def _create(path: Path) -> Tokens:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tokens = Tokens(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"operator": tokens.operator, "readonly": tokens.readonly}, f)
        f.write("\n")
    return tokens


@dataclass
class Session:
    sid: str
    role: str
    csrf: str
    created: float
    grant: str = ""  # the token's tag when the session opened (Tokens.grant)

    @property
    def who(self) -> str:
        """For audit lines: the role and a short, non-secret session tag."""
        return f"{self.role}/{self.sid[:6]}"


class Sessions:
    """Server-side sessions: the cookie is only an unguessable id."""

    def __init__(self, ttl: float = SESSION_TTL) -> None:
        self.ttl = ttl
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, role: str, grant: str = "") -> Session:
        s = Session(secrets.token_urlsafe(32), role, secrets.token_urlsafe(32), time.time(),
                    grant)
        with self._lock:
            self._expire()
            if len(self._by_id) >= SESSIONS_MAX:  # oldest out: a login flood stays bounded
                oldest = min(self._by_id.values(), key=lambda x: x.created)
                self._by_id.pop(oldest.sid, None)
            self._by_id[s.sid] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            s = self._by_id.get(sid)
            if s is not None and time.time() - s.created > self.ttl:
                self._by_id.pop(sid, None)
                return None
            return s

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def _expire(self) -> None:
        now = time.time()
        for sid in [k for k, v in self._by_id.items() if now - v.created > self.ttl]:
            del self._by_id[sid]


def csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(str(presented).encode(),
                                                   session.csrf.encode())


@dataclass(frozen=True)
class Origins:
    """Where the page is served from: the Host values accepted and the Origins."""

    hosts: frozenset[str]  # "127.0.0.1:8420", "localhost:8420", ...
    origins: frozenset[str]  # "http://127.0.0.1:8420", ...
    secure: bool  # cookies get Secure (TLS here, or a public https origin)

    @classmethod
    def for_bind(cls, address: str, port: int, tls: bool,
                 public: list[str] | tuple[str, ...] = ()) -> Origins:
        """Our own address (and ``localhost`` for a loopback one), plus public origins
        (``https://fleet.example.org``, the address a reverse proxy serves us at)."""
        names = {address}
        if address in ("127.0.0.1", "::1"):
            names.add("localhost")
        scheme = "https" if tls else "http"
        hosts = set()
        for n in names:
            shown = f"[{n}]" if ":" in n else n
            hosts.add(f"{shown}:{port}")
            if port == (443 if tls else 80):
                hosts.add(shown)
        origins = {f"{scheme}://{h}" for h in hosts}
        secure = tls
        for o in public:
            o = o.rstrip("/").lower()
            sch, sep, rest = o.partition("://")
            if not sep or sch not in ("http", "https") or not rest or "/" in rest:
                raise BarnumError(f"--public-origin {o!r}: expected scheme://host[:port]",
                                  EXIT_USAGE)
            origins.add(o)
            hosts.add(rest)
            secure = secure or sch == "https"
        return cls(frozenset(h.lower() for h in hosts), frozenset(origins), secure)

    def host_ok(self, host_header: str | None) -> bool:
        return bool(host_header and host_header.lower() in self.hosts)

    def origin_ok(self, origin: str | None) -> bool:
        """A strict match with one of our own origins, nothing else (not "null")."""
        return bool(origin and origin.lower() in self.origins)
