"""The users file, ``circus_users.yaml``: which users' circus trees to look at.

Two forms::

    - user1            # a plain list of user names
    - user2

    users: [user1, user2]                                  # or a mapping
    config_template: /users/{user}/circus/{host}/circus.ini
    ssh_config: ~/.ssh/fleet_config
    bailey: /opt/circus/bin/bailey
    timeout: 10
    fanout: 32
    hosts: ['host*', 'db[1-3]']  # where barnum may connect (see "allowed hosts")
    local: false               # run bailey without SSH for this machine's own name
    max_output: 4194304        # bytes a host may send
    groups:                    # named sets of hosts or instances, for targets (@itg)
      itg: [host1, host2]
      dev: ['host[3-4]', 'user1@host5', '@itg&web*']   # members are target expressions
    expect:                    # what must run where (barnum check)
      '@itg': {user1: [kafka, spark-master]}            # target -> user -> watchers
      host5: {user2: [grafana], user3: []}              # []: the instance, any watchers
    depends:                   # start order (barnum start --ordered)
      'user1@@itg:processor': ['user1@@itg:kafka', 'user1@host5:spark']
    history: {days: 30, max_mb: 100}   # barnum web's record (barnum history); false: none
    persist: 10m               # the warm background session's idle life; 0: none

Settings in the file are defaults; command-line flags win.  Every error is one
line that names the file (and the line, where YAML can tell).
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from barnum import BarnumError

FILE_NAME = "circus_users.yaml"
ENV_VAR = "BARNUM_CONFIG"
USER_RE = re.compile(r"[a-z_][a-z0-9_.-]*\Z")
KEYS = ("users", "config_template", "ssh_config", "bailey", "timeout", "fanout", "hosts",
        "local", "max_output", "groups", "expect", "depends", "history",
        "persist")
MAX_FILE = 1024 * 1024  # a users file is small; anything bigger is a mistake
MAX_TIMEOUT = 3600.0
MAX_FANOUT = 1024


class ConfigError(BarnumError):
    """The users file is missing, malformed or has values of the wrong type."""


DEFAULT_DAYS = 30  # history kept, by default (barnum.history.store)
DEFAULT_MAX_MB = 100


@dataclass
class HistorySettings:
    """The users file's ``history:`` mapping (all optional)."""

    days: float = DEFAULT_DAYS
    max_mb: float = DEFAULT_MAX_MB
    path: str | None = None
    enabled: bool = True

    def db_path(self) -> Path:
        if self.path:
            return Path(os.path.expanduser(self.path))
        base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        return Path(base) / "barnum" / "history.db"



@dataclass
class Config:
    """The users file, parsed and validated."""

    users: list[str]
    path: Path | None = None
    config_template: str | None = None
    ssh_config: str | None = None
    bailey: str | None = None
    timeout: float | None = None
    fanout: int | None = None
    hosts: list[str] | None = None  # patterns of the hosts barnum may connect to
    local: bool | None = None
    max_output: int | None = None
    groups: dict[str, list[str]] = field(default_factory=dict)  # name -> member expressions
    expect: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # target -> user -> w
    depends: dict[str, list[str]] = field(default_factory=dict)  # watcher ref -> refs it needs
    history: HistorySettings | None = None  # when the file has ``history:``
    persist: float | None = None  # seconds the warm session outlives its last call


def is_valid_user(name: object) -> bool:
    """POSIX-ish portable user names: what useradd accepts by default."""
    return isinstance(name, str) and len(name) <= 32 and bool(USER_RE.match(name))


def find_config(
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> Path:
    """``--config``, ``$BARNUM_CONFIG``, ``./circus_users.yaml``, then ~/.config/barnum/."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser()
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser()
    candidates = [
        (cwd or Path.cwd()) / FILE_NAME,
        (home or Path.home()) / ".config" / "barnum" / FILE_NAME,
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(
        f"no users file: pass --config, set ${ENV_VAR}, or create "
        + " or ".join(str(c) for c in candidates)
    )


def load_config(path: Path | str) -> Config:
    """Read and parse the users file at ``path``."""
    path = Path(path)
    try:
        text = read_small_file(path, MAX_FILE).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    return parse_config(text, path)


def read_small_file(path: Path | str, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit``: a FIFO, a device or a huge file is
    an OSError with a reason, never a hang or an unbounded read."""
    import errno
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, device or socket?)")
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        return data
    finally:
        os.close(fd)


def parse_config(text: str, path: Path | str = "<users file>") -> Config:
    """Pure: YAML text to a validated Config; ConfigError names file and line."""
    import yaml

    where = str(path)
    try:
        doc = yaml.load(text, Loader=_no_alias_loader())
    except _AliasError as e:
        raise ConfigError(f"{where}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        at = f":{mark.line + 1}" if mark is not None else ""
        ctx, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
        if ctx and cmark is not None and mark is not None and cmark.line != mark.line:
            problem += f" ({ctx} started on line {cmark.line + 1})"
        raise ConfigError(f"{where}{at}: invalid YAML: {problem}") from None
    def fail(msg: str, key: object = None) -> ConfigError:
        line = _line_index(text).get(key) if key is not None else None
        return ConfigError(f"{where}{f':{line}' if line else ''}: {msg}")

    if doc is None:
        raise fail("empty users file: expected a list of user names or a mapping with 'users'")
    if isinstance(doc, list):
        settings: dict[str, Any] = {"users": doc}
        base: tuple = ()
    elif isinstance(doc, dict):
        settings = doc
        base = ("users",)
        for k in doc:
            if k not in KEYS:
                close = difflib.get_close_matches(str(k), KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise fail(f"unknown key {k!r}{hint}; known: {', '.join(KEYS)}", (k,))
        if "users" not in doc:
            raise fail("no 'users' list in the mapping")
    else:
        raise fail(
            f"expected a list of user names or a mapping, got {type(doc).__name__}", ()
        )

    users = settings["users"]
    if not isinstance(users, list):
        raise fail(f"'users' must be a list of user names, got {_tname(users)}", base)
    if not users:
        raise fail("no users listed", base)
    seen: list[str] = []
    for i, u in enumerate(users):
        if not is_valid_user(u):
            raise fail(
                f"invalid user name {u!r} (expected [a-z_][a-z0-9_.-]*)", (*base, i)
            )
        if u not in seen:
            seen.append(u)

    cfg = Config(users=seen, path=Path(path) if not isinstance(path, Path) else path)
    for key in ("config_template", "ssh_config", "bailey"):
        v = settings.get(key)
        if v is None:
            continue
        if not isinstance(v, str) or not v.strip():
            raise fail(f"'{key}' must be a non-empty string, got {_tname(v)}", (key,))
        setattr(cfg, key, v)
    if cfg.config_template is not None:
        _check_template(cfg.config_template, fail)
    if cfg.ssh_config is not None:
        cfg.ssh_config = os.path.expanduser(cfg.ssh_config)
    t = settings.get("timeout")
    if t is not None:
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= MAX_TIMEOUT:
            raise fail(f"'timeout' must be a number of seconds in (0, {MAX_TIMEOUT:g}], "
                       f"got {t!r}", ("timeout",))
        cfg.timeout = float(t)
    for key, top in (("fanout", MAX_FANOUT), ("max_output", 1 << 30)):
        v = settings.get(key)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
                raise fail(f"'{key}' must be an integer from 1 to {top}, got {v!r}", (key,))
            setattr(cfg, key, v)
    hosts = settings.get("hosts")
    if hosts is not None:
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
            raise fail("'hosts' must be a list of host name patterns", ("hosts",))
        cfg.hosts = list(hosts)
    local = settings.get("local")
    if local is not None:
        if not isinstance(local, bool):
            raise fail(f"'local' must be true or false, got {_tname(local)}", ("local",))
        cfg.local = local
    if settings.get("groups") is not None:
        cfg.groups = _parse_groups(settings["groups"], fail)
    if settings.get("expect") is not None:
        cfg.expect = _parse_expect(settings["expect"], cfg, fail)
    if settings.get("depends") is not None:
        cfg.depends = _parse_depends(settings["depends"], cfg, fail)
    if settings.get("history") is not None:
        cfg.history = _parse_history(settings["history"], fail)
    if settings.get("persist") is not None:
        from barnum.text.duration import parse_duration

        v = settings["persist"]
        try:
            cfg.persist = 0.0 if v is False else parse_duration(v)
        except ValueError as e:
            raise fail(f"'persist': {e}", ("persist",)) from None
    return cfg


def _parse_history(history: object, fail) -> Any:
    """``history: {days: 30, max_mb: 100, path: FILE}`` or ``history: false``."""
    if history is False:
        return HistorySettings(enabled=False)
    if not isinstance(history, dict):
        raise fail(f"'history' must be a mapping (days, max_mb, path) or false, got "
                   f"{_tname(history)}", ("history",))
    out = HistorySettings()
    for k, v in history.items():
        at = ("history", k)
        if k in ("days", "max_mb"):
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 100000:
                raise fail(f"'history' {k} must be a positive number, got {v!r}", at)
            setattr(out, k, float(v))
        elif k == "path":
            if not isinstance(v, str) or not v.strip():
                raise fail(f"'history' path must be a non-empty string, got {_tname(v)}", at)
            out.path = v
        else:
            raise fail(f"unknown key {k!r} in 'history'; known: days, max_mb, path", at)
    return out


def _check_target(text: str, cfg: Config, fail, at: tuple) -> None:
    """A target expression in the users file: parses, and names only known groups."""
    from barnum.model.nodeset import ExpressionError, parse, unknown_group

    try:
        e = parse(text)
    except ExpressionError as err:
        raise fail(str(err), at) from None
    for g in sorted(e.groups):
        if g not in cfg.groups:
            raise fail(unknown_group(g, cfg.groups), at)


def _parse_expect(expect: object, cfg: Config, fail) -> dict[str, dict[str, list[str]]]:
    """``expect: {target: {user: [watcher, ...]}}``: those users' instances must be
    active on the target's hosts, with those watchers active ([]: any watchers)."""
    if not isinstance(expect, dict):
        raise fail(f"'expect' must be a mapping of targets to {{user: [watchers]}}, got "
                   f"{_tname(expect)}", ("expect",))
    out: dict[str, dict[str, list[str]]] = {}
    for target, users in expect.items():
        at = ("expect", target)
        if not isinstance(target, str) or not target:
            raise fail(f"'expect': {target!r} is not a target (host, pattern or @group)", at)
        _check_target(target, cfg, fail, at)
        if not isinstance(users, dict) or not users:
            raise fail(f"'expect' {target!r} must map users to lists of watchers, got "
                       f"{_tname(users)}", at)
        row: dict[str, list[str]] = {}
        for user, watchers in users.items():
            uat = (*at, user)
            if user not in cfg.users:
                close = difflib.get_close_matches(str(user), cfg.users, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise fail(f"'expect' {target!r}: {user!r} is not in users{hint}", uat)
            if watchers is None:
                watchers = []
            if isinstance(watchers, str):
                watchers = [watchers]
            if not isinstance(watchers, list) or not all(
                    isinstance(w, str) and w and not w.isspace() for w in watchers):
                raise fail(f"'expect' {target!r}: {user}'s watchers must be a list of "
                           "watcher names", uat)
            row[user] = list(dict.fromkeys(watchers))
        out[target] = row
    return out


def _parse_depends(depends: object, cfg: Config, fail) -> dict[str, list[str]]:
    """``depends: {'user@host:watcher': ['user@host:watcher', ...]}`` (patterns and
    groups allowed on either side); what exists and cycles are checked per run."""
    from barnum.model.deps import DependencyError, parse_ref

    if not isinstance(depends, dict):
        raise fail(f"'depends' must be a mapping of watchers to lists of watchers, got "
                   f"{_tname(depends)}", ("depends",))
    out: dict[str, list[str]] = {}
    for ref, needs in depends.items():
        at = ("depends", ref)
        if isinstance(needs, str):
            needs = [needs]
        if not isinstance(needs, list) or not needs:
            raise fail(f"'depends' {ref!r} must be a non-empty list of watchers", at)
        for i, r in enumerate([ref, *needs]):
            where = at if i == 0 else (*at, i - 1)
            try:
                parsed = parse_ref(r)
            except DependencyError as err:
                raise fail(f"'depends': {err}", where) from None
            if parsed.target is not None:
                _check_target(parsed.target, cfg, fail, where)
        out[ref] = list(dict.fromkeys(needs))
    return out


def _parse_groups(groups: object, fail) -> dict[str, list[str]]:
    """``groups: {name: [member, ...]}``; a member is a target expression (barnum.model.nodeset)."""
    from barnum.model.nodeset import GROUP_RE, check_groups

    if not isinstance(groups, dict):
        raise fail(f"'groups' must be a mapping of group names to lists of hosts, got "
                   f"{_tname(groups)}", ("groups",))
    out: dict[str, list[str]] = {}
    for name, members in groups.items():
        if not isinstance(name, str) or not GROUP_RE.match(name):
            raise fail(f"bad group name {name!r} (expected letters, digits, _ . -)",
                       ("groups", name))
        if isinstance(members, str):
            members = [members]
        if not isinstance(members, list) or not members:
            raise fail(f"group {name!r} must be a non-empty list of host or user@host "
                       f"patterns, got {_tname(members)}", ("groups", name))
        for i, m in enumerate(members):
            if not isinstance(m, str) or not m:
                raise fail(f"group {name!r}: member {m!r} must be a host or user@host "
                           "pattern", ("groups", name, i))
        out[name] = list(members)
    for name, at, msg in check_groups(out):
        raise fail(f"group {name!r}: {msg}", ("groups", name) if at is None
                   else ("groups", name, at))
    return out


class _AliasError(Exception):
    pass


@functools.lru_cache(maxsize=1)
def _no_alias_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader without aliases: a few lines of ``*a`` can expand to gigabytes."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise _AliasError(f"line {mark.line + 1}: YAML aliases (*name) are not "
                                  "allowed in a users file; write the value out")
            return super().compose_node(parent, index)

    return Loader



def _check_template(template: str, fail) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise fail(f"bad 'config_template': {e}", ("config_template",)) from None
    if "host" not in fields:
        raise fail("'config_template' must contain {host}", ("config_template",))
    unknown = fields - {"user", "host"}
    if unknown:
        raise fail(
            f"'config_template' may only use {{user}} and {{host}}, not {sorted(unknown)}",
            ("config_template",),
        )


def _tname(v: object) -> str:
    return "nothing" if v is None else type(v).__name__


def _line_index(text: str) -> dict[object, int]:
    """Map paths like ("users", 2), (2,), ("timeout",) or ("groups", "itg", 0) to
    1-based line numbers (a mapping key's line, a sequence item's line)."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    out: dict[object, int] = {}
    if node is None:
        return out
    out[()] = node.start_mark.line + 1

    def walk(n, prefix: tuple, depth: int) -> None:
        if depth > 8:
            return
        if isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                out[(*prefix, i)] = item.start_mark.line + 1
                walk(item, (*prefix, i), depth + 1)
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue
                path = (*prefix, k.value)
                out.setdefault(path, k.start_mark.line + 1)
                walk(v, path, depth + 1)

    walk(node, (), 0)
    return out
