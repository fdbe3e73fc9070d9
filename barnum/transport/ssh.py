"""SSH to one host with Fabric, safely: host keys checked, bounded timeouts, one-line errors.

Fabric's ``Connection`` accepts every host key and saves none; barnum loads
known_hosts and applies ``--host-key-policy``:

- ``accept-new`` (default, like OpenSSH's): an unknown host's key is appended
  to known_hosts, under a process-wide lock, once; a known host must match.
- ``strict``: an unknown host is an error (paramiko's RejectPolicy).
- ``off``: an unknown key is accepted for this run only, with a warning.

A changed key is always an error, whatever the policy.

ssh_config: paramiko honours HostName, Port, User, IdentityFile,
ConnectTimeout (barnum's --timeout overrides it), ProxyJump, ProxyCommand and
ForwardAgent.  barnum itself reads UserKnownHostsFile, GlobalKnownHostsFile
and HashKnownHosts.  Parsed but IGNORED: StrictHostKeyChecking (use
--host-key-policy), BatchMode (barnum never prompts anyway), ControlMaster/
ControlPath/ControlPersist, ServerAliveInterval (barnum sets its own
keepalive), IdentitiesOnly, SendEnv, Ciphers/KexAlgorithms, all GSSAPI
options.  ``Include`` is followed by barnum.transport.sshconfig, as OpenSSH does.  A
``Match`` with a condition paramiko does not know matches EVERY host.

This module imports paramiko and fabric at import time: import it lazily.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import paramiko
from fabric import Config, Connection

POLICIES = ("accept-new", "strict", "off")
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
KEEPALIVE = 5

_known_hosts_lock = threading.Lock()  # one writer at a time, across all hosts

# paramiko logs transport failures (with tracebacks) from its own threads; with
# no handler, logging's last resort prints them on stderr.  barnum reports each
# failure as one line instead; --debug turns paramiko's log back on.
_paramiko_log = logging.getLogger("paramiko")
_paramiko_log.addHandler(logging.NullHandler())
_paramiko_log.propagate = False


def debug_logging() -> None:
    """Let paramiko's log reach stderr (``--debug``)."""
    _paramiko_log.propagate = True
    logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """OpenSSH's ``StrictHostKeyChecking=accept-new``: append an unknown host's key once.

    Thread-safe: under a lock it re-reads the file, so two connections to the
    same host (aliases, retries) write one line; a key that appeared there
    meanwhile must match.  Never rewrites the file (paramiko's save does).
    """

    def __init__(self, path: str | os.PathLike, hashed: bool = False,
                 on_add: Callable[[str, str], None] | None = None) -> None:
        self.path = Path(path).expanduser()
        self.hashed = hashed
        self.on_add = on_add

    def missing_host_key(self, client, hostname, key) -> None:
        with _known_hosts_lock:
            current = paramiko.HostKeys()
            if self.path.exists():
                current.load(str(self.path))
            known = current.lookup(hostname)
            if known is not None and key.get_name() in known:
                if known[key.get_name()] != key:
                    raise paramiko.BadHostKeyException(hostname, key, known[key.get_name()])
            else:
                name = paramiko.HostKeys.hash_host(hostname) if self.hashed else hostname
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with open(self.path, "a", encoding="ascii") as f:
                    f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
                if self.on_add:
                    self.on_add(hostname, str(self.path))
        client.get_host_keys().add(hostname, key.get_name(), key)


class WarnPolicy(paramiko.MissingHostKeyPolicy):
    """``off``: accept an unknown key for this connection only, and say so."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.warn = warn

    def missing_host_key(self, client, hostname, key) -> None:
        self.warn(f"{hostname}: host key NOT verified ({key.get_name()}; --host-key-policy off)")
        client.get_host_keys().add(hostname, key.get_name(), key)


def fabric_config(ssh_config: str | None) -> Config:
    """One Fabric Config for all hosts (ssh_config parsed once, shared read-only)."""
    if ssh_config:
        path = Path(ssh_config).expanduser()
        if not path.is_file():
            from barnum import BarnumError

            raise BarnumError(f"ssh config {path}: no such file")
    from barnum.transport.sshconfig import paramiko_config

    # Read as OpenSSH reads it (Include, then the system's config): barnum.transport.sshconfig.
    return Config(ssh_config=paramiko_config(ssh_config))


def known_hosts_files(ssh_cfg: dict) -> tuple[list[Path], list[Path]]:
    """(user files, global files) from the host's ssh_config, OpenSSH's defaults otherwise."""
    user = ssh_cfg.get("userknownhostsfile") or DEFAULT_KNOWN_HOSTS
    glob_ = ssh_cfg.get("globalknownhostsfile") or GLOBAL_KNOWN_HOSTS
    return _paths(user), _paths(glob_)


def _paths(value: object) -> list[Path]:
    """Space-separated paths with ~, %d (home), %u (local user) and %% expanded like OpenSSH."""
    import getpass

    out = []
    for p in str(value).split():
        p = p.replace("%%", "\0").replace("%d", os.path.expanduser("~"))
        if "%u" in p:
            p = p.replace("%u", getpass.getuser())
        out.append(Path(os.path.expanduser(p.replace("\0", "%"))))
    return out


def make_connection(host: str, fab_config: Config, timeout: float, policy: str,
                    warn: Callable[[str], None]) -> Connection:
    """A Connection whose client checks host keys and never waits longer than ``timeout``."""
    t = max(1, math.ceil(timeout))
    conn = Connection(
        host,
        config=fab_config,
        connect_timeout=t,
        connect_kwargs={"banner_timeout": t, "auth_timeout": t, "channel_timeout": t},
    )
    users, globals_ = known_hosts_files(conn.ssh_config)
    client = conn.client
    for path in (*globals_, *users):
        if path.is_file() and str(path) != os.devnull:
            try:
                client.load_system_host_keys(str(path))
            except (OSError, paramiko.SSHException) as e:
                warn(f"cannot read known_hosts {path}: {e}")
    if policy == "strict":
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    elif policy == "off":
        client.set_missing_host_key_policy(WarnPolicy(warn))
    else:
        hashed = str(conn.ssh_config.get("hashknownhosts", "no")).lower() == "yes"
        client.set_missing_host_key_policy(AcceptNewPolicy(users[0], hashed=hashed))
    # For error messages.  Not on the Connection: its unknown attributes land
    # in the (shared) Fabric config.
    client.barnum_known_hosts = str(users[0])
    return conn


def open_connection(conn: Connection) -> None:
    """Open, then the two settings that matter for speed and liveness."""
    conn.open()
    sock = conn.transport.sock
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # ~35 ms per round trip
    conn.transport.set_keepalive(KEEPALIVE)


def classify(exc: BaseException, conn: Connection | None, timeout: float,
             at_deadline: bool = False) -> str:
    """One line an operator can act on, for any failure while connecting or running.

    ``at_deadline``: the failure came when the host's time was up, so it may
    be called a timeout; an immediate one never is.
    """
    from invoke.exceptions import CommandTimedOut

    secs = f"{timeout:g}s"
    addr = f"{conn.host}:{conn.port}" if conn is not None else "?"
    user = conn.user if conn is not None else "?"
    kh = getattr(getattr(conn, "client", None), "barnum_known_hosts", DEFAULT_KNOWN_HOSTS)
    if isinstance(exc, CommandTimedOut):
        return f"timed out after {secs} (bailey still running there)"
    try:
        text = str(exc).strip()
    except Exception:  # some exceptions cannot even print themselves
        text = ""
    msg = text.splitlines()[0] if text else ""
    if isinstance(exc, paramiko.BadHostKeyException):
        name = exc.hostname
        if conn is not None and conn.port != 22 and not name.startswith("["):
            name = f"[{name}]:{conn.port}"
        return (f"host key changed! (known_hosts {kh} has another {exc.key.get_name()} key for "
                f"{name}: possible man-in-the-middle; if the change is expected, "
                f"ssh-keygen -R '{name}' -f {kh})")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        reasons = {e.errno for e in exc.errors.values() if isinstance(e, OSError)}
        if errno.ECONNREFUSED in reasons:
            why = "connection refused (is the host up? is sshd running?)"
        elif reasons & {errno.EHOSTUNREACH, errno.ENETUNREACH}:
            why = "no route to host (is the host up?)"
        else:
            why = "; ".join(sorted({os.strerror(r) for r in reasons if r})) or msg
        return f"cannot connect to {addr}: {why}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {conn.host if conn else '?'}: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {secs} connecting to {addr}"
    if isinstance(exc, paramiko.PasswordRequiredException):
        return (f"authentication failed for {user}: private key is encrypted "
                "(load it into ssh-agent; barnum never prompts)")
    if isinstance(exc, paramiko.AuthenticationException):
        if "timeout" in msg.lower():  # sshd slow to answer (a loaded host): not a refusal
            return f"timed out after {secs} authenticating as {user} at {addr}"
        return f"authentication failed for {user} (key refused)"
    if isinstance(exc, paramiko.SSHException):
        if "not found in known_hosts" in msg:
            return (f"unknown host key for {conn.host if conn else '?'} and --host-key-policy "
                    f"strict (add it to {kh}, e.g. ssh-keyscan)")
        if "No authentication methods available" in msg:
            return f"authentication failed for {user}: no key to offer (no agent, no identity)"
        if "No existing session" in msg or "protocol banner" in msg:
            if at_deadline:
                return f"timed out after {secs}: {addr} accepts TCP but sent no SSH banner"
            return f"{addr} accepts TCP but speaks no SSH ({msg})"
        return f"ssh error from {addr}: {msg}"
    if isinstance(exc, EOFError | ConnectionError):
        return f"connection to {addr} lost: {msg or type(exc).__name__}"
    if isinstance(exc, OSError):
        return f"cannot connect to {addr}: {exc.strerror or msg}"
    return f"{type(exc).__name__}: {msg}"
