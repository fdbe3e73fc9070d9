"""``barnum shell`` in a real terminal (tmux), on the real fleet.

Keys go in with ``tmux send-keys``; the screen comes back with
``capture-pane``; the truth is read on the hosts by nsenter + circusctl.
"""

from __future__ import annotations

import shlex
import shutil
import time

import pytest

from barnum.model.nodeset import fold
from tests.e2e.test_barnum_e2e import barnum_cmd, circusctl, running
from tests.e2e.tmux import WAIT, Tmux, last_index, lines_of
from tests.waiting import until

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def is_prompt(line: str) -> bool:
    return line.startswith("barnum[") and "]>" in line


@pytest.fixture
def term(fleet, tmp_path):
    """Start ``barnum shell ARGS`` in a tmux window; keys(), screen(), wait_for(), exit code."""
    servers: list[Tmux] = []

    class Term:
        def start(self, *args: str, timeout: str = "10", state: str | None = None) -> None:
            servers.append(Tmux("shell"))  # a server per run
            self.tmux = servers[-1]
            self.done = tmp_path / f"exit{len(servers)}"
            env = f"XDG_STATE_HOME={state or tmp_path / 'state'}"
            self.tmux.start_then_record_exit(
                [*barnum_cmd(), "shell", "--config", str(fleet.users_file), "--ssh-config",
                 str(fleet.ssh_config), "--timeout", timeout, *args], self.done,
                env=shlex.quote(env))
            self.at_prompt()

        def keys(self, *keys: str) -> None:
            self.tmux.keys(*keys)

        def screen(self) -> str:
            return self.tmux.screen()

        def wait_for(self, pred, within: float = WAIT) -> str:
            return self.tmux.wait(pred, within)

        def exit_code(self, within: float = WAIT) -> int:
            return self.tmux.exit_status(self.done, within)

        def at_prompt(self) -> str:
            """Wait until an empty prompt is the last line (keys typed before it may meet a
            cooked tty)."""
            def empty_prompt_last(s: str) -> bool:
                last = lines_of(s)[-1]
                return is_prompt(last) and last.endswith(">")
            return self.wait_for(empty_prompt_last)

        def command(self, text: str) -> None:
            self.at_prompt()
            self.keys(text, "Enter")

        def wait_typed(self, line: str, within: float = WAIT) -> str:
            """Wait until ``line`` is the last prompt line, whole (it is redrawn in pieces)."""
            return self.wait_for(lambda s: prompt_of(s) == line, within)

    yield Term()
    for t in servers:
        t.kill()


def prompt_of(screen: str) -> str:
    """The last prompt line on the screen, "" if none."""
    lines = lines_of(screen)
    at = last_index(lines, is_prompt)
    return lines[at] if at >= 0 else ""


def endpoint(fleet, user: str) -> str:
    return f"tcp://127.0.0.1:{fleet.port(user)}"


def watchers_on(fleet, host: str, user: str) -> dict[str, str]:
    """circusctl status read on the host: watcher -> status."""
    out = circusctl(fleet, host, endpoint(fleet, user), "status").stdout
    return dict(ln.split(": ", 1) for ln in out.splitlines() if ": " in ln)


def wait_watcher(fleet, host: str, user: str, watcher: str, state: str,
                 within: float = WAIT) -> None:
    """Until circusctl on the host says ``watcher`` is ``state`` (circus stops in the
    background: circusctl stop answers before the process is gone)."""
    now = until(lambda: watchers_on(fleet, host, user).get(watcher) == state, within)
    assert now, f"{watcher} on {user}@{host}: {watchers_on(fleet, host, user)}, not {state}"


def no_bailey_left(fleet, host: str) -> None:
    """bailey --serve saw EOF and exited: nothing left on the host."""
    assert until(lambda: not fleet.exec(host, ["pgrep", "-f", "bailey --serve"]).stdout.strip(),
                 WAIT), f"bailey --serve left on {host}"


def above_prompt(screen: str, text: str, prompt: str) -> bool:
    """``text`` on a line above the last prompt line, and that prompt line is ``prompt``
    whole: the event was printed and the prompt redrawn below it."""
    lines = lines_of(screen)
    at = last_index(lines, lambda ln: text in ln)
    return 0 <= at < last_index(lines, is_prompt) and prompt_of(screen) == prompt


def test_stop_tab_completes_the_fleets_watchers_even_one_added_since(fleet, term):
    term.start("host1")
    truth: set[str] = set()  # every watcher of every running instance, read on the hosts
    for host, user in running(fleet):
        truth |= set(watchers_on(fleet, host, user))
    assert truth >= {"sleeper", "ticker"}

    def menu(screen: str) -> set[str]:
        lines = lines_of(screen)
        return {ln.strip() for ln in lines[last_index(lines, is_prompt) + 1:]}

    term.keys("stop ", "Tab")
    term.wait_for(lambda s: menu(s) == truth)
    # a watcher added on a host while the shell runs completes too
    add = circusctl(fleet, "host2", endpoint(fleet, "user2"), "add", "--start", "latecomer",
                    "sleep 1000")
    assert add.returncode == 0, add.stderr

    def offered() -> bool:  # the session hears of it by push; Tab asks the session again
        term.keys("C-u")
        term.wait_typed("barnum[host1]>")
        term.keys("stop la")
        term.wait_typed("barnum[host1]> stop la")
        term.keys("Tab")
        try:
            term.wait_for(lambda s: "stop latecomer" in prompt_of(s), 5)
        except AssertionError:
            return False
        return True

    try:
        assert until(offered, WAIT, 0.5), term.screen()
    finally:
        circusctl(fleet, "host2", endpoint(fleet, "user2"), "rm", "latecomer")
    term.keys("C-u")
    term.command("exit")
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
    no_bailey_left(fleet, "host1")


def test_a_watcher_stopped_on_a_host_shows_above_the_line_being_typed(fleet, term):
    term.start("host2")
    term.keys("stop slee")  # typed, not entered
    term.wait_typed("barnum[host2]> stop slee")
    try:
        r = circusctl(fleet, "host2", endpoint(fleet, "user1"), "stop", "sleeper")
        assert r.returncode == 0, r.stderr
        # above the prompt, which was redrawn whole (a capture may catch it mid-redraw)
        term.wait_for(lambda s: above_prompt(s, "host2 user1: sleeper stopped",
                                             "barnum[host2]> stop slee"))
        term.keys("per user1@host2", "Enter")  # the typed line still works as one
        term.wait_for(lambda s: "user1@host2 (1): " in s)
        term.at_prompt()
        # a process that dies (kill -9 on the host) while the prompt waits
        term.keys("hos")
        term.wait_typed("barnum[host2]> hos")
        pid = until(lambda: (p := circusctl(fleet, "host2", endpoint(fleet, "user2"), "list",
                                            "ticker").stdout.strip()).isdigit() and p, WAIT)
        assert pid, "no ticker pid for user2@host2"
        fleet.exec("host2", ["kill", "-9", pid])
        died = f"host2 user2: ticker: process {pid} exited (killed by signal 9)"
        term.wait_for(lambda s: above_prompt(s, died, "barnum[host2]> hos"))
    finally:
        circusctl(fleet, "host2", endpoint(fleet, "user1"), "start", "sleeper")
    term.keys("C-u", "C-d")  # Ctrl-D on an empty line leaves
    assert term.exit_code() == 0


def test_a_host_lost_and_back_is_reported_above_the_typed_line(fleet, term):
    term.start("host3", timeout="4")
    term.keys("hos")
    term.wait_typed("barnum[host3]> hos")
    with fleet.host_down("host3"):  # silent: the session's pings go unanswered
        term.wait_for(lambda s: above_prompt(s, "host3: down: ", "barnum[host3]> hos"), 60)
        term.keys("ts", "Enter")
        term.wait_for(lambda s: "barnum[host3]> hosts" in s and
                      any(ln.startswith("host3: down") for ln in
                          s.split("barnum[host3]> hosts", 1)[1].splitlines()))

    def back_up(s: str) -> bool:  # an "up" event after the last "down" line
        lines = lines_of(s)
        return last_index(lines, lambda ln: "host3: up" in ln) > \
            last_index(lines, lambda ln: "host3: down" in ln)
    term.wait_for(back_up, 90)  # reconnected with backoff
    term.command("hosts")
    term.wait_for(lambda s: "host3: up, 3 instances" in s)
    term.command("exit")
    assert term.exit_code() == 0


def test_ctrl_c_cancels_the_command_not_the_session(fleet, term):
    term.start(timeout="60")  # the hung host must not time out before Ctrl-C
    def pids() -> list[str]:
        return [circusctl(fleet, "host1", endpoint(fleet, u), "list", "ticker").stdout.strip()
                for u in ("user1", "user2")]

    term.keys("stop some")  # at the prompt, Ctrl-C clears the line
    term.wait_typed("barnum[*]> stop some")
    term.keys("C-c")
    term.at_prompt()
    command = "restart ticker host1 user1@host2"

    def cancelled(s: str) -> list[str]:
        """The lines from our last command to the cancellation that ended it."""
        lines = lines_of(s)
        at = last_index(lines, lambda ln: ln == f"barnum[*]> {command}")
        end = last_index(lines, lambda ln: ln.startswith("cancelled: no answer yet from "))
        return lines[at + 1:end + 1] if 0 <= at < end else []

    # host2's bailey --serve stopped: the request there waits for the shell's 60 s timeout
    # (a hung circusd would not do: bailey's circusctl gives up on it after 5 s)
    assert until(lambda: fleet.exec("host2", ["pgrep", "-f", "bailey --serve"]).stdout, WAIT)
    assert fleet.exec("host2", ["pkill", "-STOP", "-f", "bailey --serve"]).returncode == 0
    try:
        # host1's answer must be back in the shell before Ctrl-C, and nothing on the
        # screen says when it is: try again, waiting longer, if it was still on its way
        for pause in (1, 4, 10):
            before = until(lambda: all(pids()) and pids(), WAIT)
            assert before, "ticker not running on host1"
            term.command(command)
            def restarted(before: list[str] = before) -> bool:
                return all(a and a != b for a, b in zip(pids(), before, strict=True))
            assert until(restarted, WAIT), "ticker not restarted on host1"  # done there...
            time.sleep(pause)  # ...and, likely, its answer back in the shell
            term.keys("C-c")
            block = cancelled(term.wait_for(cancelled))
            if block[-1].startswith("cancelled: no answer yet from user1@host2 "):
                assert "user[1-2]@host1 (2): ok" in block, block
                break
            # the only other outcome: host1 had not answered yet either
            everyone = fold(["user1@host1", "user2@host1", "user1@host2"])
            assert block[-1].startswith(f"cancelled: no answer yet from {everyone} "), block
            term.at_prompt()
        else:
            raise AssertionError("host1's answer never reached the shell before Ctrl-C")
    finally:
        fleet.exec("host2", ["pkill", "-CONT", "-f", "bailey --serve"])
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
