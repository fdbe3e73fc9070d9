"""Names that mean this machine."""

from __future__ import annotations

import socket


def unit_host(host: str) -> str:
    """The host name in its units' names: ``localhost`` (this machine, run without
    SSH) names its units by this machine's short name, as bailey does."""
    return socket.gethostname().split(".")[0] if host == "localhost" else host


def local_names() -> set[str]:
    """Names that mean "this machine": run bailey here, without SSH."""
    short = socket.gethostname().split(".")[0]
    return {"localhost", short}
