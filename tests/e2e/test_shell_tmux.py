"""``barnum shell`` in a real terminal (tmux), on the real fleet.

Keys go in with ``tmux send-keys``; the screen comes back with
``capture-pane``; the truth is read on the hosts by nsenter + circusctl.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import time

import pytest

from tests.e2e.test_barnum_e2e import barnum_cmd, circusctl, running

_RUNS = itertools.count()  # tmux servers: never reuse one that may still be shutting down

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


@pytest.fixture
def term(fleet, tmp_path):
    """Start ``barnum shell ARGS`` in a tmux window; keys(), screen(), wait_for(), exit code."""
    socks: list[str] = []

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", socks[-1], *args], capture_output=True,
                              text=True, timeout=10).stdout

    class Term:
        def start(self, *args: str, timeout: str = "10", state: str | None = None) -> None:
            socks.append(f"barnum-shell-{os.getpid()}-{next(_RUNS)}")  # a server per run
            self.done = tmp_path / f"exit{len(socks)}"
            cmd = shlex.join([*barnum_cmd(), "shell", "--config", str(fleet.users_file),
                              "--ssh-config", str(fleet.ssh_config), "--timeout", timeout, *args])
            env = f"XDG_STATE_HOME={shlex.quote(state or str(tmp_path / 'state'))}"
            p = subprocess.run(["tmux", "-L", socks[-1], "new-session", "-d", "-s", "w", "-x",
                                "150", "-y", "50", f"{env} {cmd}; echo $? > "
                                f"{shlex.quote(str(self.done))}; sleep 120"],
                               capture_output=True, text=True, timeout=10)
            assert p.returncode == 0, p.stderr
            self.wait_for(lambda s: "barnum[" in s, 30)

        def keys(self, *keys: str) -> None:
            tmux("send-keys", "-t", "w", *keys)

        def screen(self) -> str:
            return tmux("capture-pane", "-p", "-t", "w")

        def wait_for(self, pred, within: float = 15.0) -> str:
            deadline = time.monotonic() + within
            while True:
                s = self.screen()
                if pred(s):
                    return s
                assert time.monotonic() < deadline, "screen never matched:\n" + s
                time.sleep(0.1)

        def exit_code(self, within: float = 15.0) -> int:
            deadline = time.monotonic() + within
            while not self.done.exists():
                assert time.monotonic() < deadline, "shell did not exit:\n" + self.screen()
                time.sleep(0.1)
            return int(self.done.read_text())

        def at_prompt(self) -> None:
            """Wait until the prompt is back (keys typed before it may meet a cooked tty)."""
            def back(s: str) -> bool:
                lines = [ln for ln in s.splitlines() if ln.strip()]
                return bool(lines) and lines[-1].startswith("barnum[") \
                    and lines[-1].endswith(">")
            self.wait_for(back)

        def command(self, text: str) -> None:
            self.at_prompt()
            self.keys(text, "Enter")

        def prompt_line(self) -> str:
            lines = [ln for ln in self.screen().splitlines() if ln.startswith("barnum[")]
            return lines[-1] if lines else ""

    t = Term()
    yield t
    for sock in socks:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


def endpoint(fleet, user: str) -> str:
    return f"tcp://127.0.0.1:{fleet.port(user)}"


def watchers_on(fleet, host: str, user: str) -> dict[str, str]:
    """circusctl status read on the host: watcher -> status."""
    out = circusctl(fleet, host, endpoint(fleet, user), "status").stdout
    return dict(ln.split(": ", 1) for ln in out.splitlines() if ": " in ln)


def wait_watcher(fleet, host: str, user: str, watcher: str, state: str,
                 within: float = 10.0) -> None:
    """Until circusctl on the host says ``watcher`` is ``state`` (circus stops in the
    background: circusctl stop answers before the process is gone)."""
    deadline = time.monotonic() + within
    while (now := watchers_on(fleet, host, user).get(watcher)) != state:
        assert time.monotonic() < deadline, f"{watcher} on {user}@{host}: {now}, not {state}"
        time.sleep(0.1)


def test_stop_tab_completes_the_fleets_watchers_even_one_added_since(fleet, term):
    term.start("host1")
    truth: set[str] = set()  # every watcher of every running instance, read on the hosts
    for host, user in running(fleet):
        truth |= set(watchers_on(fleet, host, user))
    assert truth >= {"sleeper", "ticker"}

    def menu(screen: str) -> set[str]:
        lines = screen.splitlines()
        at = max(i for i, ln in enumerate(lines) if ln.startswith("barnum["))
        return {ln.strip() for ln in lines[at + 1:] if ln.strip()}

    term.keys("stop ", "Tab")
    screen = term.wait_for(lambda s: menu(s) == truth)
    assert menu(screen) == truth, screen
    # a watcher added on a host while the shell runs completes too
    add = circusctl(fleet, "host2", endpoint(fleet, "user2"), "add", "--start", "latecomer",
                    "sleep 1000")
    assert add.returncode == 0, add.stderr
    try:
        term.wait_for(lambda s: True)
        deadline = time.monotonic() + 10
        while True:  # the session hears of it by push; Tab asks the session again
            term.keys("C-u", "stop la")
            time.sleep(0.3)
            term.keys("Tab")
            time.sleep(0.5)
            if "stop latecomer" in term.prompt_line():
                break
            assert time.monotonic() < deadline, term.screen()
    finally:
        circusctl(fleet, "host2", endpoint(fleet, "user2"), "rm", "latecomer")
    term.keys("C-u", "exit", "Enter")
    assert term.exit_code() == 0


def test_stop_ticker_host1_stops_it_there_and_exit_exits_0(fleet, term):
    term.start()
    try:
        term.command("stop ticker host1")
        term.wait_for(lambda s: "user[1-2]@host1 (2): ok" in s)
        for user in ("user1", "user2"):
            wait_watcher(fleet, "host1", user, "ticker", "stopped")
        assert watchers_on(fleet, "host2", "user1")["ticker"] == "active"
        term.command("start ticker host1")
        term.wait_for(lambda s: s.count("user[1-2]@host1 (2): ok") == 2)
        wait_watcher(fleet, "host1", "user1", "ticker", "active")
    finally:
        for user in ("user1", "user2"):
            circusctl(fleet, "host1", endpoint(fleet, user), "start", "ticker")
    term.command("exit")
    assert term.exit_code() == 0
    # nothing left on the hosts: bailey --serve saw EOF
    deadline = time.monotonic() + 5
    while fleet.exec("host1", ["pgrep", "-f", "bailey --serve"]).stdout.strip():
        assert time.monotonic() < deadline, "bailey --serve left on host1"
        time.sleep(0.2)


def test_a_watcher_stopped_on_a_host_shows_above_the_line_being_typed(fleet, term):
    term.start("host2")
    term.keys("stop slee")  # typed, not entered
    term.wait_for(lambda s: "barnum[host2]> stop slee" in s)
    try:
        r = circusctl(fleet, "host2", endpoint(fleet, "user1"), "stop", "sleeper")
        assert r.returncode == 0, r.stderr
        screen = term.wait_for(lambda s: "host2 user1: sleeper stopped" in s)
        lines = screen.rstrip("\n").splitlines()
        event = next(i for i, ln in enumerate(lines) if "host2 user1: sleeper stopped" in ln)
        assert term.prompt_line() == "barnum[host2]> stop slee", screen
        prompt = max(i for i, ln in enumerate(lines) if ln.startswith("barnum[host2]> "))
        assert event < prompt, screen  # above the prompt, which was redrawn whole
        term.keys("per user1@host2", "Enter")  # the typed line still works as one
        term.wait_for(lambda s: "user1@host2 (1): " in s)
        # a process that dies (kill -9 on the host) while the prompt waits
        term.keys("hos")
        pid = circusctl(fleet, "host2", endpoint(fleet, "user2"), "list", "ticker").stdout.strip()
        assert pid.isdigit(), pid
        fleet.exec("host2", ["kill", "-9", pid])
        died = f"host2 user2: ticker: process {pid} exited (killed by signal 9)"
        term.wait_for(lambda s: died in s)
        assert term.prompt_line() == "barnum[host2]> hos"
    finally:
        circusctl(fleet, "host2", endpoint(fleet, "user1"), "start", "sleeper")
    term.keys("C-u", "C-d")  # Ctrl-D on an empty line leaves
    assert term.exit_code() == 0


def test_a_host_lost_and_back_is_reported_above_the_typed_line(fleet, term):
    term.start("host3", timeout="2")
    term.keys("hos")
    with fleet.host_down("host3"):  # silent: the session's pings go unanswered
        term.wait_for(lambda s: "host3: down: " in s, 20)
        assert term.prompt_line() == "barnum[host3]> hos"
        term.keys("ts", "Enter")
        term.wait_for(lambda s: "barnum[host3]> hosts" in s and
                      any(ln.startswith("host3: down") for ln in
                          s.split("barnum[host3]> hosts", 1)[1].splitlines()))
    term.wait_for(lambda s: "host3: up" in s, 40)  # reconnected with backoff
    term.command("hosts")
    term.wait_for(lambda s: "host3: up, 3 instances" in s)
    term.command("exit")
    assert term.exit_code() == 0


def test_ctrl_c_cancels_the_command_not_the_session(fleet, term):
    term.start(timeout="30")  # the hung host must not time out before Ctrl-C
    def pids() -> list[str]:
        return [circusctl(fleet, "host1", endpoint(fleet, u), "list", "ticker").stdout.strip()
                for u in ("user1", "user2")]

    term.keys("stop some")  # at the prompt, Ctrl-C clears the line
    term.wait_for(lambda s: "barnum[*]> stop some" in s)
    term.keys("C-c")
    term.at_prompt()
    before = pids()
    with fleet.circusd_hang("host2", "user1"):  # its circusctl waits for the timeout
        term.command("restart ticker host1 user1@host2")
        deadline = time.monotonic() + 15  # host1's restart done on the host...
        while any(a == b for a, b in zip(pids(), before, strict=True)):
            assert time.monotonic() < deadline, "ticker not restarted on host1"
            time.sleep(0.1)
        time.sleep(1.0)  # ...and its answer back in the shell (the 30 s timeout is far)
        term.keys("C-c")
        screen = term.wait_for(lambda s: "cancelled: no answer yet from user1@host2" in s)
        assert "user[1-2]@host1 (2): ok" in screen, screen
    term.command("hosts")  # the session is still there
    term.wait_for(lambda s: "host1: up" in s and "host2: up" in s)
    term.command("target @failed")
    term.wait_for(lambda s: "barnum[user1@host2]>" in s)
    term.command("exit")
    assert term.exit_code() == 0


def test_history_persists_across_two_runs(fleet, term, tmp_path):
    term.start("host1")
    term.command("users")
    term.wait_for(lambda s: "user1: host[1-4]" in s)
    term.at_prompt()
    term.command("exit")
    assert term.exit_code() == 0
    history = tmp_path / "state" / "barnum" / "shell_history"
    assert "users" in history.read_text()
    assert oct(history.stat().st_mode & 0o777) == "0o600"
    term.start("host1")
    term.keys("Up")
    term.wait_for(lambda s: "barnum[host1]> exit" in s)
    term.keys("Up")
    term.wait_for(lambda s: "barnum[host1]> users" in s)
    term.keys("Enter")
    term.wait_for(lambda s: "user1: host[1-4]" in s)
    term.at_prompt()
    term.keys("C-d")
    assert term.exit_code() == 0
    # where history cannot be written, the shell says so once and works
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    term.start("host1", state=str(blocked))
    term.wait_for(lambda s: "barnum: warning: history not kept across runs" in s)
    term.command("users")
    term.wait_for(lambda s: "user1: host[1-4]" in s)
    term.command("exit")
    assert term.exit_code() == 0
