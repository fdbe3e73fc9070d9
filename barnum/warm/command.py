"""``barnum session status|stop``: the warm background session of this users file."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from barnum import EXIT_INSTANCE, EXIT_OK, EXIT_USAGE, BarnumError

NEEDS_CONTEXT = False


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("status", "stop"), help="show it, or end it now")
    p.add_argument("--json", action="store_true", help="status as one JSON document")


def _where(args: argparse.Namespace) -> Any:
    from barnum.warm.paths import find_users_file, key_of, runtime_dir, where

    users = find_users_file(args.config)
    if users is None:
        raise BarnumError("no users file: pass --config or set $BARNUM_CONFIG", EXIT_USAGE)
    return users, where(key_of(users, args.ssh_config, args.bailey), runtime_dir())


def _ask(path: Any, op: str) -> dict | None:
    from barnum.warm import protocol
    from barnum.warm.client import ask
    from barnum.warm.paths import WarmError

    try:
        return ask(path, protocol.request([], op))
    except WarmError as e:
        raise BarnumError(f"warm session: {e}", EXIT_USAGE) from None


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


def _age(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def run(args: argparse.Namespace, _ctx: Any) -> int:
    from barnum.text.sanitize import clean

    users, w = _where(args)
    answer = _ask(w.socket, "status" if args.action == "status" else "stop")
    if answer is None:
        print(f"no warm session for {clean(str(users))}")
        return EXIT_INSTANCE if args.action == "status" else EXIT_OK
    if args.action == "stop":
        deadline = time.monotonic() + 30
        while os.path.exists(w.socket) and time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"stopped the warm session for {clean(str(users))}")
        return EXIT_OK
    st = answer.get("status") or {}
    if args.json:
        import json

        sys.stdout.write(json.dumps(st, indent=2, sort_keys=True) + "\n")
        return EXIT_OK
    hosts = st.get("hosts") or {}
    up = sum(1 for v in hosts.values() if v == "up")
    print(f"warm session for {clean(str(users))}: pid {st.get('pid')}, "
          f"{up}/{len(hosts)} hosts up, age {_age(st.get('age', 0))}, "
          f"idle {_age(st.get('idle', 0))} of {_age(st.get('persist', 0))}, "
          f"memory {_mb(st.get('rss', 0))}, {st.get('clients', 0)} clients now, "
          f"{st.get('served', 0)} calls served, history {'on' if st.get('history') else 'off'}")
    for h, state in hosts.items():
        if state != "up":
            print(f"  {clean(str(h))}: {clean(str(state))}")
    print(f"  socket {clean(str(st.get('socket')))}")
    return EXIT_OK if os.path.exists(w.socket) else EXIT_INSTANCE
