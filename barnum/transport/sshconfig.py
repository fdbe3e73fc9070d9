"""The operator's ssh_config, read as OpenSSH reads it, and checked before connecting.

paramiko parses one file and ignores ``Include``; OpenSSH reads
``~/.ssh/config`` (or ``-F FILE``) then ``/etc/ssh/ssh_config``, and follows
``Include`` (globs in lexical order, ``~``, relative paths against
``~/.ssh`` for user configs and ``/etc/ssh`` for the system one, at most 16
deep).  :func:`load_text` does the same and gives paramiko one text:

- an Include at the top level inlines each file's lines;
- an Include inside a ``Host``/``Match`` block is conditional, as in
  OpenSSH: the file's own lines before its first header belong to the
  block, and its ``Host``/``Match`` headers are rewritten as a ``Match``
  that also requires the enclosing block's condition (``Host P`` becomes
  ``Match originalhost P``), so they never apply outside it;
- after each included file the enclosing header is repeated, because
  OpenSSH restores the including file's match state there.

Reading it once also makes its mistakes usage errors: paramiko fails deep
inside a connection, which made an operator's typo look like a broken host.
Each problem is one line naming the file and the host (exit 2).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shlex

from barnum import EXIT_USAGE, BarnumError

MAX_BYTES = 1024 * 1024
MAX_JUMPS = 16
MAX_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH
USER_CONFIG = "~/.ssh/config"
SYSTEM_CONFIG = "/etc/ssh/ssh_config"
_KEYWORD = re.compile(r"^\s*(\w+)(?:\s*=\s*|\s+)(.*?)\s*$")


class SshConfigError(BarnumError):
    """The ssh_config cannot be used as it is; ``str()`` is one line."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg, EXIT_USAGE)


def _read(path: str) -> str:
    from barnum.model.config import read_small_file

    try:
        return read_small_file(path, MAX_BYTES).decode("utf-8")
    except UnicodeDecodeError as e:
        raise SshConfigError(f"ssh_config {path}: not UTF-8 (byte {e.start})") from None
    except OSError as e:
        raise SshConfigError(f"ssh_config {path}: cannot read: {e.strerror or e}") from None


def include_paths(value: str, system: bool, home: str | None = None) -> list[str]:
    """The files one ``Include`` line names, in the order OpenSSH reads them."""
    home = home if home is not None else os.path.expanduser("~")
    base = "/etc/ssh" if system else os.path.join(home, ".ssh")
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    out: list[str] = []
    for w in words:
        if w == "~" or w.startswith("~/"):
            w = home + w[1:]
        elif w.startswith("~"):
            w = os.path.expanduser(w)
        if not os.path.isabs(w):
            w = os.path.join(base, w)
        out += sorted(glob.glob(w)) if glob.has_magic(w) else [w]
    return out


def _conjoin(outer: str | None, header: str) -> str:
    """``header`` (a Host or Match line) as a Match that also needs ``outer``'s condition."""
    if outer is None:
        return header
    key, _, value = _split(header)
    inner = (f"originalhost {','.join(value.split())}" if key == "host" else value)
    okey, _, ovalue = _split(outer)
    if okey == "host":
        cond = f"originalhost {','.join(ovalue.split())}"
    else:
        cond = ovalue.strip()
        if cond.lower() == "all":
            return header if key == "match" else f"Match {inner}"
    if inner.strip().lower() == "all":
        inner = ""
    return f"Match {cond} {inner}".rstrip()


def _split(line: str) -> tuple[str, str, str]:
    m = _KEYWORD.match(line)
    if not m:
        return "", "", ""
    return m.group(1).lower(), "", m.group(2)


def expand(path: str, system: bool = False, outer: str | None = None, depth: int = 0,
           home: str | None = None) -> str:
    """The text of ``path`` with every ``Include`` replaced as OpenSSH would read it.

    ``outer``: the header (Host/Match line) in force where this file was
    included, None at the top level.  A named file that does not exist is
    skipped, like a glob that matches nothing (OpenSSH does the same).
    """
    if depth > MAX_DEPTH:
        raise SshConfigError(f"ssh_config {path}: Include nested more than {MAX_DEPTH} deep")
    text = _read(path)
    out: list[str] = []
    header = outer  # the block the next lines belong to
    for line in text.splitlines():
        key, _, value = _split(line)
        if key in ("host", "match"):
            header = _conjoin(outer, line.strip())
            out.append(header)
        elif key == "include":
            for inc in include_paths(value, system, home):
                if not os.path.isfile(inc):
                    continue
                out.append(expand(inc, system, header, depth + 1, home))
                out.append(header or "Host *")  # OpenSSH restores the includer's state
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def load_text(path: str | None) -> str:
    """Everything OpenSSH would read: ``path`` (as ``-F``), else the user's then the system's.

    Cached while the top file is unchanged: the checks, the allow rule and
    every connection share one read.
    """
    top = os.path.expanduser(path or USER_CONFIG)
    try:
        stamp = os.stat(top).st_mtime_ns
    except OSError:
        stamp = None
    return _load_text(path, stamp)


@functools.lru_cache(maxsize=8)
def _load_text(path: str | None, _stamp: int | None) -> str:
    if path:
        return expand(os.path.expanduser(path))
    parts = []
    user = os.path.expanduser(USER_CONFIG)
    if os.path.exists(user):
        parts.append(expand(user))
    if os.path.exists(SYSTEM_CONFIG):
        parts.append(expand(SYSTEM_CONFIG, system=True))
    return "Host *\n".join(parts)


def user_text(path: str | None) -> str | None:
    """The operator's own config (``path`` or ~/.ssh/config) with its includes, or None.

    What decides which hosts may be contacted (barnum.transport.allow): the system's
    config is not the operator's choice.
    """
    p = os.path.expanduser(path or USER_CONFIG)
    if not os.path.isfile(p):
        return None
    return expand(p)


def paramiko_config(path: str | None):
    """A paramiko SSHConfig of :func:`load_text` (parsed once per run)."""
    import paramiko

    return paramiko.SSHConfig.from_text(load_text(path))


def check_ssh_config(path: str | None, hosts: list[str]) -> None:
    """Raise SshConfigError for an unreadable file, an unparsable line, a bad Port,
    a HostName without value, or a ProxyJump loop for any of ``hosts``."""
    p = os.path.expanduser(path) if path else os.path.expanduser(USER_CONFIG)
    if not path and not os.path.exists(p) and not os.path.exists(SYSTEM_CONFIG):
        return
    if path and not os.path.isfile(p):
        _read(p)  # the one-line error for a missing or odd file
    _check_text(p, load_text(path), tuple(hosts), os.path.expanduser("~"))


@functools.lru_cache(maxsize=8)
def _check_text(p: str, text: str, hosts: tuple[str, ...], _home: str) -> None:
    """check_ssh_config's work on the text read, kept per text, hosts and home (what a
    lookup's tokens read; the user is the process's): a process that checks the same
    config for the same hosts again (the warm session, once per call) pays paramiko's
    parse and a lookup per host once, not a lookup per host per call.  (A ``Match
    exec`` is then not run again.)  A failure is not kept: it is raised again."""
    import paramiko

    from barnum.text.sanitize import clean

    try:
        cfg = paramiko.SSHConfig.from_text(text)
    except SshConfigError:
        raise
    except Exception as e:  # paramiko's ConfigParseError, or worse on odd input
        what = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SshConfigError(f"ssh_config {p}: {clean(what)} (a keyword needs a value)") \
            from None
    for host in hosts:
        _check_host(cfg, p, host)


def _check_host(cfg, path: str, host: str) -> None:
    from barnum.text.sanitize import clean

    try:
        opts = cfg.lookup(host)
    except Exception as e:  # e.g. a Match exec or a token paramiko cannot expand
        raise SshConfigError(f"ssh_config {path}: host {host}: {clean(e)}") from None
    port = opts.get("port")
    if port is not None and not (str(port).isdigit() and 0 < int(port) < 65536):
        raise SshConfigError(f"ssh_config {path}: host {host}: Port {clean(port)!r} is not "
                             "a port number")
    if "hostname" in opts and not str(opts["hostname"]).strip():
        raise SshConfigError(f"ssh_config {path}: host {host}: HostName has no value")
    chain = [host]
    jump = opts.get("proxyjump")
    while jump and str(jump).lower() != "none":
        nxt = str(jump).split(",")[0].rpartition("@")[2].split(":")[0]
        if nxt in chain or len(chain) > MAX_JUMPS:
            loop = " -> ".join([*chain, nxt])
            raise SshConfigError(f"ssh_config {path}: ProxyJump loop: {clean(loop)}")
        chain.append(nxt)
        jump = cfg.lookup(nxt).get("proxyjump")
