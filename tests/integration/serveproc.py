"""A ``bailey --serve`` process driven by a test: send a request, wait for its answer."""

from __future__ import annotations

import json
import select
import subprocess
import time
from collections.abc import Callable


class Serve:
    """``bailey --serve`` started by ``argv`` (over SSH, or nsenter as root)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
        self.rid = 0
        self.hello = self.read(lambda m: m.get("event") == "hello")

    def read(self, want: Callable[[dict], bool], within: float = 60) -> dict:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1)
            if ready:
                line = self.proc.stdout.readline()
                assert line, "bailey --serve ended"
                msg = json.loads(line)
                if want(msg):
                    return msg
        raise AssertionError("bailey --serve did not answer in time")

    def ask(self, rid: int | None, op: str, **kw) -> dict:
        if rid is None:
            self.rid += 1000
            rid = self.rid
        self.proc.stdin.write(json.dumps({"id": rid, "op": op, **kw}).encode() + b"\n")
        self.proc.stdin.flush()
        return self.read(lambda m: m.get("id") == rid)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
