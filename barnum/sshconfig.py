"""Checking the operator's ssh_config before connecting: its mistakes are usage errors.

paramiko reads ssh_config lazily and fails deep inside a connection, which
used to make an operator's typo look like a broken host (exit 3, or an
"internal error").  This reads the file the run will use once, up front, and
turns each problem into one line naming the file and the host (exit 2).
"""

from __future__ import annotations

import os

from barnum import EXIT_USAGE, BarnumError

MAX_BYTES = 1024 * 1024
MAX_JUMPS = 16


class SshConfigError(BarnumError):
    """The ssh_config cannot be used as it is; ``str()`` is one line."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg, EXIT_USAGE)


def check_ssh_config(path: str | None, hosts: list[str]) -> None:
    """Raise SshConfigError for an unreadable file, an unparsable line, a bad Port,
    a HostName without value, or a ProxyJump loop for any of ``hosts``."""
    import paramiko

    from barnum.config import read_small_file
    from barnum.sanitize import clean

    p = os.path.expanduser(path) if path else os.path.expanduser("~/.ssh/config")
    if not path and not os.path.exists(p):
        return
    try:
        text = read_small_file(p, MAX_BYTES).decode("utf-8")
    except UnicodeDecodeError as e:
        raise SshConfigError(f"ssh_config {p}: not UTF-8 (byte {e.start})") from None
    except OSError as e:
        raise SshConfigError(f"ssh_config {p}: cannot read: {e.strerror or e}") from None
    try:
        cfg = paramiko.SSHConfig.from_text(text)
    except Exception as e:  # paramiko's ConfigParseError, or worse on odd input
        what = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SshConfigError(f"ssh_config {p}: {clean(what)} (a keyword needs a value)") \
            from None
    for host in hosts:
        _check_host(cfg, p, host)


def _check_host(cfg, path: str, host: str) -> None:
    from barnum.sanitize import clean

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
