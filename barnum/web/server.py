"""Running the app: uvicorn in this process, in the foreground or in a thread (tests, bench).

uvicorn is told the bound socket's real port before the first request, so
the Host and Origin checks know it even with ``--port 0``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from barnum.web.app import Web, build_app
from barnum.web.auth import Origins


@dataclass
class Listen:
    address: str = "127.0.0.1"
    port: int = 8420
    cert: str | None = None
    key: str | None = None
    public: tuple[str, ...] = ()

    @property
    def tls(self) -> bool:
        return bool(self.cert)


def bind(listen: Listen) -> socket.socket:
    """The listening socket (so the port is known before uvicorn starts)."""
    family = socket.AF_INET6 if ":" in listen.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((listen.address, listen.port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(web: Web, listen: Listen, sock: socket.socket):
    import uvicorn

    port = sock.getsockname()[1]
    web.origins = Origins.for_bind(listen.address, port, listen.tls, listen.public)
    config = uvicorn.Config(
        build_app(web), log_level="warning", access_log=False, lifespan="off",
        ssl_certfile=listen.cert, ssl_keyfile=listen.key, timeout_graceful_shutdown=1,
        server_header=False, proxy_headers=False)
    return uvicorn.Server(config), port


def url(listen: Listen, port: int, code: str | None = None) -> str:
    """The page's address; with a one-time sign-in code (Web.login_code), the link
    that signs in once (never a token: a URL stays in the browser's history)."""
    host = listen.public[0] if listen.public else (
        f"{'https' if listen.tls else 'http'}://"
        f"{'[' + listen.address + ']' if ':' in listen.address else listen.address}:{port}")
    return f"{host}/login?code={code}" if code else f"{host}/"


class Background:
    """The server in a daemon thread; ``stop()`` ends it (streams end with the hub)."""

    def __init__(self, web: Web, listen: Listen) -> None:
        self.web = web
        self.sock = bind(listen)
        self.server, self.port = make_server(web, listen, self.sock)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True, name="barnum-web")

    def start(self, within: float = 10.0) -> Background:
        self.thread.start()
        deadline = time.monotonic() + within
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            raise RuntimeError("barnum web did not start")
        return self

    def stop(self) -> None:
        self.web.hub.closing.set()  # event streams end; uvicorn then shuts down
        self.server.should_exit = True
        self.thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self.sock.close()


def default_state_dir() -> Path:
    from barnum.web.auth import default_state_dir as d

    return d()


def assemble(session: Any, state_dir: Path, threshold: int = 5, warn: Any = None,
             journal: bool = True) -> Web:
    """The app's shared parts over an open session (the hub started)."""
    from barnum.web.audit import JOURNAL_SOCKET, Audit
    from barnum.web.auth import TokenFile
    from barnum.web.hub import Hub

    tokens = TokenFile(state_dir / "tokens.json", warn)
    audit = Audit(state_dir / "audit.log", JOURNAL_SOCKET if journal else None, warn)
    hub = Hub(session).start()
    return Web(session, hub, tokens, Origins.for_bind("127.0.0.1", 0, False), audit, threshold)
