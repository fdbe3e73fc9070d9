"""A compromised host and a hostile circus user, on the real fleet (issue: hostile input).

The compromised host runs a fake bailey (a script in its /usr/local/bin) that
floods, hangs, dies of a signal, prints escape sequences or a mistyped
document.  Each run targets the victim and a healthy host: the victim gets
its one-line error and the right exit code, the healthy host is intact, the
terminal sees no control character, and time and memory stay bounded.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_barnum_e2e import HARD_LIMIT, barnum_cmd, healthy_hosts, run_barnum

pytestmark = pytest.mark.fleet

FAKE = "bailey-fake"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
TIMEOUT = 5


def _valid(host: str, **over) -> str:
    doc = {"schema": "bailey/1", "host": host, "bailey_version": "0.1.0",
           "circusctl_args": ["status"], "dry_run": False, "errors": [], "exit": 0,
           "instances": [{"unit": f"circus_user1_{host}.service", "user": "user1",
                          "user_source": "User=", "unit_file_state": "enabled",
                          "active_state": "active", "sub_state": "running", "state": "ok",
                          "watchers": {"web": "active"}, **over}]}
    return json.dumps(doc)


SCRIPTS = {
    "flood": "exec head -c 50000000 /dev/zero | tr '\\0' x\n",
    "hang": "exec sleep 300\n",
    "killed": "kill -KILL $$\n",
    "escapes": "cat <<'EOF'\n{doc}\nEOF\n"
               "printf '\\033]0;pwned\\007\\033[2J forged\\nbarnum: x: ok\\n' >&2\nexit 1\n",
    "mistyped": "cat <<'EOF'\n{mistyped}\nEOF\n",
}
EXPECT = {
    "flood": (3, r"^output too large: over \d+ bytes"),
    "hang": (3, rf"^timed out after {TIMEOUT}s"),
    "killed": (3, r"^bailey was killed by signal KILL$"),
    "escapes": (1, None),
    "mistyped": (3, r"^bailey printed an invalid document: instances\[0\]\.state is a list"),
}


def place_fake(fleet, victim: str, other: str, script: str, name: str = FAKE) -> list[Path]:
    """``name`` on the victim is ``script``; on the other host, a link to the real bailey.
    Returns what was made there, for the caller to remove."""
    made = []
    for h in (victim, other):
        path = fleet._hostdir(h) / "bin" / name
        path.unlink(missing_ok=True)
        made.append(path)
    (fleet._hostdir(other) / "bin" / name).symlink_to("bailey")
    made[0].write_text(script)
    made[0].chmod(0o755)
    return made


@pytest.fixture
def fake_bailey(fleet):
    """``bailey-fake`` on every healthy host: the real bailey, except on the victim."""
    victim, other = healthy_hosts(fleet)[:2]
    made = []

    def install(kind: str) -> tuple[str, str]:
        esc = _valid(victim, state="error", watchers={"w\x1b]52;c;ZXZpbA==\x07": "active\x1b[2J"},
                     error="line1\nbarnum: host9: all fine")
        body = SCRIPTS[kind].format(doc=esc, mistyped=_valid(victim, state=["ok"]))
        made.extend(place_fake(fleet, victim, other, "#!/bin/sh\n" + body))
        return victim, other

    yield install
    for p in made:
        p.unlink(missing_ok=True)
    for h in (victim, other):
        fleet.exec(h, ["pkill", "-f", "sleep 300"])


@pytest.mark.parametrize("kind", list(SCRIPTS))
def test_compromised_host(fleet, fake_bailey, kind):
    victim, other = fake_bailey(kind)
    t0 = time.monotonic()
    p = run_barnum(fleet, "--bailey", FAKE, "--timeout", str(TIMEOUT), victim, other)
    took = time.monotonic() - t0
    code, pattern = EXPECT[kind]
    assert p.returncode == code, p.stderr
    assert took < TIMEOUT + 8, f"{kind}: {took:.1f}s"
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert rss_mb < 400, f"{kind}: barnum (or an earlier child) peaked at {rss_mb:.0f} MB"
    assert not CONTROL.search(p.stdout + p.stderr), (p.stdout + p.stderr)[:500]
    # The healthy host is intact: its block and its watchers are there.
    (block,) = [b for b in p.stdout.split("\n\n") if b.startswith(other + " ")]
    assert "circus_user1_" in block and ": active" in block
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith(f"barnum: {victim}: ")]
    if pattern:
        assert len(lines) == 1, p.stderr
        assert re.search(pattern, lines[0].removeprefix(f"barnum: {victim}: ")), lines
    else:  # escapes: shown, visible, and forged lines stay inside their one line
        assert "w\\e]52;c;ZXZpbA==\\x07: active\\e[2J" in p.stdout
        assert "line1\\nbarnum: host9: all fine" in p.stdout
        assert not any(ln.startswith("barnum: host9") for ln in p.stderr.splitlines())
        assert "forged" not in p.stdout


def test_json_is_complete_with_a_mistyped_host(fleet, fake_bailey):
    victim, other = fake_bailey("mistyped")
    p = run_barnum(fleet, "--json", "--bailey", FAKE, victim, other)
    doc = json.loads(p.stdout)
    by_host = {h["host"]: h for h in doc["hosts"]}
    assert by_host[victim]["error"].startswith("bailey printed an invalid document")
    assert by_host[other]["error"] is None and by_host[other]["bailey"]["instances"]


def test_pipe_closed_early_is_not_an_error(fleet):
    healthy = healthy_hosts(fleet)
    cmd = [*barnum_cmd(), "--config", str(fleet.users_file), "--ssh-config",
           str(fleet.ssh_config), *healthy]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # like `barnum | head -1`
    _, err = proc.communicate(timeout=HARD_LIMIT)
    whole = subprocess.run(cmd, capture_output=True, timeout=HARD_LIMIT)
    assert whole.returncode in (0, 1)
    assert proc.returncode == whole.returncode, err  # the fleet's answer, not a crash's 3
    assert b"Traceback" not in err and b"Broken pipe" not in err


def test_folder_named_after_an_address_is_not_contacted(fleet, tmp_path):
    """A circus user's folder named 127.0.0.1 (or any address) is proposed, not used."""
    user = fleet.users[0]
    folder = fleet.homes / user / "circus" / "127.0.0.1"
    folder.mkdir()
    try:
        (folder / "circus.ini").write_text("[circus]\n")
        env = {"HOME": str(tmp_path)}  # no ~/.ssh/known_hosts of the operator is touched
        p = run_barnum(fleet, "--dry-run", env=env)
        assert p.returncode == 0, p.stderr
        assert "127.0.0.1" not in p.stdout
        warn = [ln for ln in p.stderr.splitlines() if "not connecting to 127.0.0.1" in ln]
        assert len(warn) == 1 and "ssh_config" in warn[0], p.stderr
        p = run_barnum(fleet, "127.0.0.1", env=env)
        assert p.returncode == 2
        assert "barnum: error: 127.0.0.1 is not an allowed host" in p.stderr
        assert not os.path.exists(tmp_path / ".ssh" / "known_hosts")
    finally:
        (folder / "circus.ini").unlink()
        folder.rmdir()


def test_watcher_names_with_escapes_and_newlines(fleet):
    """A circus user names watchers to attack the operator's terminal: shown inert."""
    host = healthy_hosts(fleet)[0]
    user = fleet.users[0]
    endpoint = f"tcp://127.0.0.1:{fleet.port(user)}"
    ctl = [str(fleet.venv / "bin" / "circusctl"), "--endpoint", endpoint]
    names = ["evil\x1b]0;pwned\x07", "two\nlines barnum: host9: fine"]
    try:
        for n in names:
            p = fleet.exec(host, [*ctl, "add", "--start", n, "/bin/sleep 3602"], user=user)
            assert p.returncode == 0, p.stderr
        p = run_barnum(fleet, f"{user}@{host}")
        assert not CONTROL.search(p.stdout + p.stderr), p.stdout
        assert "evil\\e]0;pwned\\x07: active" in p.stdout
        assert "two\\nlines barnum: host9: fine: active" in p.stdout
        assert not any(ln.startswith("barnum: host9") for ln in p.stderr.splitlines())
        doc = json.loads(run_barnum(fleet, "--json", f"{user}@{host}").stdout)
        watchers = doc["hosts"][0]["bailey"]["instances"][0]["watchers"]
        assert set(names) <= set(watchers)  # --json keeps the true names, JSON-escaped
    finally:
        for n in names:
            fleet.exec(host, [*ctl, "rm", n], user=user)
