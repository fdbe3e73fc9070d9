"""``barnum web [targets]``: the fleet as a live web page (needs ``pip install barnum[web]``).

Binds 127.0.0.1 by default; another address needs ``--bind`` and warns
unless ``--tls-cert``/``--tls-key`` are given.  Prints a one-time sign-in link
(a code, never the token); the tokens stay in ``<state-dir>/tokens.json``
(0600).  ``--rotate-token`` replaces the operator token there and exits.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from barnum import EXIT_OK, EXIT_USAGE, BarnumError

if TYPE_CHECKING:
    from barnum.context import Context


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="hosts or user@host; globs allowed")
    p.add_argument("--bind", metavar="ADDR", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other is exposed to "
                   "the network: use TLS)")
    p.add_argument("--port", type=int, default=8420, metavar="N",
                   help="port (default 8420; 0 picks a free one)")
    p.add_argument("--tls-cert", metavar="FILE", help="TLS certificate (PEM)")
    p.add_argument("--tls-key", metavar="FILE", help="TLS private key (PEM)")
    p.add_argument("--public-origin", action="append", default=[], metavar="URL",
                   help="the origin a reverse proxy serves the page at "
                   "(https://fleet.example.org); its Host and Origin are accepted too")
    p.add_argument("--state-dir", metavar="DIR",
                   help="tokens.json and audit.log (default ~/.config/barnum/web)")
    p.add_argument("--confirm-threshold", type=int, default=5, metavar="N",
                   help="above N watchers an action needs the watcher's name typed "
                   "(default 5)")
    p.add_argument("--no-journal", action="store_true",
                   help="audit lines to the audit file only, not to the local journal")
    p.add_argument("--rotate-token", action="store_true",
                   help="write a new operator token to the token file and exit (the old one "
                   "stops working, also in a running barnum web, with its sessions)")


def check_listen(args: argparse.Namespace, warn) -> None:
    """Usage errors and the exposure warning, before anything is opened."""
    try:
        addr = ipaddress.ip_address(args.bind)
    except ValueError:
        raise BarnumError(f"--bind {args.bind!r}: give an IP address", EXIT_USAGE) from None
    if not 0 <= args.port <= 65535:
        raise BarnumError(f"--port {args.port}: must be from 0 to 65535", EXIT_USAGE)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise BarnumError("--tls-cert and --tls-key go together", EXIT_USAGE)
    for f in (args.tls_cert, args.tls_key):
        if f and not Path(f).is_file():
            raise BarnumError(f"{f}: no such file", EXIT_USAGE)
    if addr.is_unspecified and not args.public_origin:
        raise BarnumError(f"--bind {args.bind} answers on every address: give --public-origin "
                          "with the address clients use (the Host header is checked against "
                          "it)", EXIT_USAGE)
    if args.confirm_threshold < 1:
        raise BarnumError("--confirm-threshold must be at least 1", EXIT_USAGE)
    if not addr.is_loopback and not args.tls_cert:
        warn(f"warning: listening on {args.bind} without TLS: the token and the session "
             "cookie cross the network in clear (give --tls-cert and --tls-key, or keep "
             "127.0.0.1 behind a TLS reverse proxy)")


def rotate(state_dir: Path) -> int:
    from barnum.web.auth import rotate_operator_token

    path = state_dir / "tokens.json"
    rotate_operator_token(path)
    print(f"barnum web: new operator token in {path}; the old one no longer signs in "
          "(a running barnum web takes the new one at once and signs its operator "
          "sessions out)", flush=True)
    return EXIT_OK


def _record(web, ctx: Context):
    """The history recorder (barnum.history.recorder), or None when the store cannot be used."""
    from barnum.history.store import open_store
    from barnum.web.recording import attach

    store = open_store(ctx.config.history, ctx.err)
    return attach(web, store) if store is not None else None


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.rotate_token:
        from barnum.web.auth import default_state_dir

        return rotate(Path(args.state_dir).expanduser() if args.state_dir
                      else default_state_dir())
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise BarnumError("barnum web needs its extra: pip install 'barnum[web]'",
                          EXIT_USAGE) from None
    from barnum.context import open_session
    from barnum.web.server import Listen, assemble, bind, default_state_dir, make_server, url

    check_listen(args, ctx.err)
    listen = Listen(args.bind, args.port, args.tls_cert, args.tls_key,
                    tuple(args.public_origin))
    from barnum.web.auth import Origins

    Origins.for_bind(listen.address, 1, listen.tls, listen.public)  # checks --public-origin
    state_dir = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    try:
        sock = bind(listen)
    except OSError as e:
        raise BarnumError(f"cannot listen on {args.bind}:{args.port}: {e.strerror}",
                          EXIT_USAGE) from None
    session = open_session(ctx)
    web = recorder = None
    try:
        web = assemble(session, state_dir, args.confirm_threshold, ctx.err,
                       journal=not args.no_journal)
        recorder = _record(web, ctx)
        server, port = make_server(web, listen, sock)
        from barnum.web.auth import LOGIN_CODE_TTL

        print(f"barnum web: {url(listen, port, web.login_code())}", flush=True)
        print(f"barnum web: that link signs in once, within {LOGIN_CODE_TTL / 60:.0f} "
              f"minutes; then sign in with a token (operator, read-only) from "
              f"{state_dir / 'tokens.json'}; audit in {state_dir / 'audit.log'}",
              file=sys.stderr, flush=True)
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        if recorder is not None:
            recorder.close()
            recorder.store.close()
        if web is not None:
            web.hub.close()
        session.close()
        sock.close()
    return EXIT_OK
