"""Real circusd processes for bailey's tests (no systemd needed).

Each ``Circusd`` is the installed circus's own ``circusd`` on a loopback port
or an ipc socket in a temporary folder, with two watchers: ``sleeper``
(running) and ``ticker`` (stopped: ``autostart = false``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
CIRCUSD = str(BIN / "circusd")
CIRCUSCTL = str(BIN / "circusctl")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Circusd:
    def __init__(self, folder: Path, endpoint: str | None = None, name: str = "c",
                 watchers: str = "") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
        self.ini = folder / f"{name}.ini"
        self.logfile = folder / f"{name}.log"
        if self.endpoint.startswith("ipc://") and not self.endpoint.startswith("ipc:///"):
            (folder / self.endpoint[len("ipc://"):]).parent.mkdir(parents=True, exist_ok=True)
        self.ini.write_text(
            "[circus]\n"
            f"endpoint = {self.endpoint}\n"
            f"pubsub_endpoint = tcp://127.0.0.1:{free_port()}\n"
            "check_delay = 0\n"
            "[watcher:sleeper]\ncmd = sleep 3600\n"
            "[watcher:ticker]\ncmd = sleep 3600\nautostart = false\n" + watchers
        )
        self.log = open(self.logfile, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [CIRCUSD, str(self.ini)], cwd=folder, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"circusd exited: {self.logfile.read_text()}")
            r = subprocess.run([CIRCUSCTL, "--endpoint", self.connect_endpoint, "--timeout", "1",
                                "status"], capture_output=True, text=True)
            if r.returncode == 0 and "sleeper: active" in r.stdout:
                return
            time.sleep(0.2)
        raise RuntimeError("circusd did not come up")

    @property
    def connect_endpoint(self) -> str:
        if self.endpoint.startswith("ipc://") and not self.endpoint.startswith("ipc:///"):
            return f"ipc://{self.folder / self.endpoint[len('ipc://'):]}"
        return self.endpoint.replace("*", "127.0.0.1").replace("0.0.0.0", "127.0.0.1")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGCONT)
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.log.close()
