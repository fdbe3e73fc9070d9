"""The ``output`` op reads only what the circus user could (issue 18 #3), on real hosts.

user1 on host1 names, as its watchers' ``stdout_stream.filename``, a 0644
file inside the operator's 0700 folder: directly, through a symlink in its
home, and as a relative ``../`` path from circusd's working directory.  bailey
--serve is asked for each, as the operator over SSH (bailey walks the path
descriptor by descriptor) and as root inside the host (bailey opens the file
in a child that becomes user1: the kernel decides).  Each is refused with one
line; a legitimately readable stream file still reads.  Then user1 swaps the
name between the two while bailey reads, for many requests: the secret never
comes back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time

import pytest

from tests.fleet.fleet import HOST_PATH, OPERATOR
from tests.integration.serveproc import Serve
from tests.waiting import until

pytestmark = pytest.mark.fleet

HOST, USER = "host1", "user1"
UNIT = f"circus_{USER}_{HOST}.service"
SECRET = "operator-only-9d41"
SWAPPER = """
import os, sys, time
home, secret, good = sys.argv[1:4]
end = time.monotonic() + float(sys.argv[4])
link, tmp = f"{home}/swap.out", f"{home}/swap.tmp"
folder, real = f"{home}/dsw", f"{home}/dsw.real"
while time.monotonic() < end:
    for dest in (secret, good):  # a symlink re-pointed, atomically
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(dest, tmp)
        os.replace(tmp, link)
        time.sleep(0.002 if dest == secret else 0.0005)  # both seen, whatever the CPU load
    os.rename(folder, real)  # a folder moved away, its name now leading to private/
    os.symlink(os.path.dirname(secret), folder)
    time.sleep(0.002)
    os.unlink(folder)
    os.rename(real, folder)
    time.sleep(0.0005)
"""


def _chown(fleet, path, user):
    uid = fleet.uid(user)
    os.chown(path, uid, uid, follow_symlinks=False)


@contextlib.contextmanager
def _staged(fleet):
    """The operator's private file, and user1's watchers naming it in every way."""
    op_home, home = fleet.homes / OPERATOR, fleet.homes / USER
    private = op_home / "private-sbai"
    private.mkdir(mode=0o700)
    _chown(fleet, private, OPERATOR)
    secret = private / "secret.out"
    secret.write_text(f"{SECRET}\n")
    secret.chmod(0o644)
    _chown(fleet, secret, OPERATOR)
    good = home / "good-sbai.out"
    good.write_text("good line 1\ngood line 2\n")
    _chown(fleet, good, USER)
    link = home / "link-sbai.out"
    link.symlink_to(secret)
    _chown(fleet, link, USER)
    streams = {
        "direct": str(secret),
        "symlink": link.name,  # relative: circusd's working directory is user1's home
        "relative": f"../{OPERATOR}/{private.name}/{secret.name}",
        "good": good.name,
        "swap": "swap.out",
        "moved": f"dsw/{secret.name}",
    }
    (home / "dsw").mkdir()
    (home / "dsw" / secret.name).write_text("good line 1\n")
    for p in (home / "dsw", home / "dsw" / secret.name):
        _chown(fleet, p, USER)
    ini = home / "circus" / HOST / "circus.ini"
    saved = ini.read_text()
    extra = "".join(f"\n[watcher:{name}]\ncmd = /bin/sleep 3600\nautostart = false\n"
                    f"stdout_stream.class = FileStream\nstdout_stream.filename = {path}\n"
                    for name, path in streams.items())
    try:
        ini.write_text(saved + extra)
        yield {"secret": secret, "good": good, "home": home}
    finally:
        ini.write_text(saved)
        for p in (link, good, home / "swap.out", home / "swap.tmp", secret):
            p.unlink(missing_ok=True)
        private.rmdir()
        for d in (home / "dsw", home / "dsw.real"):
            if d.is_symlink():
                d.unlink()
            elif d.is_dir():
                shutil.rmtree(d)


def _servers(fleet):
    as_operator = Serve(["ssh", "-F", str(fleet.ssh_config), HOST, "--", "bailey", "--serve"])
    as_root = Serve(["nsenter", "-t", str(fleet.pids[HOST]), "-a", "bailey", "--serve"],
                    env={"PATH": HOST_PATH, "LANG": "C.UTF-8", "HOME": "/root"})
    return {"operator": as_operator, "root": as_root}


def _output(serve, watcher):
    return serve.ask(None, "output", unit=UNIT, watcher=watcher, stream="stdout", n=10)


def test_output_refuses_what_the_circus_user_cannot_reach(fleet):
    with _staged(fleet) as staged:
        servers = _servers(fleet)
        try:
            for who, serve in servers.items():
                for watcher in ("direct", "symlink", "relative"):
                    r = _output(serve, watcher)
                    assert r["ok"] is False, (who, watcher, r)
                    assert SECRET not in str(r)
                    assert "not readable by the circus user" in r["error"], (who, r)
                    assert "\n" not in r["error"]
                    if who == "operator":  # the walk names the folder that stopped it
                        private = staged["secret"].parent
                        assert f"; {private} is not searchable for it" in r["error"], r
                r = _output(serve, "good")
                assert r["ok"], (who, r)
                assert r["result"]["lines"] == ["good line 1", "good line 2"]
                assert r["result"]["path"] == str(staged["good"])
            # The operator itself can read the file: only user1's rights refused it.
            p = fleet.ssh(HOST, ["cat", str(staged["secret"])])
            assert p.stdout.strip() == SECRET
        finally:
            for serve in servers.values():
                serve.close()


def test_a_name_swapped_while_bailey_reads_never_leaks(fleet):
    with _staged(fleet) as staged:
        home = staged["home"]
        script = home / "swapper-sbai.py"
        script.write_text(SWAPPER)
        _chown(fleet, script, USER)
        uid = fleet.uid(USER)
        unit = "sbai-swapper"
        p = fleet.exec(HOST, ["systemd-run", f"--unit={unit}", f"--uid={uid}", f"--gid={uid}",
                              "/usr/bin/python3", str(script), str(home), str(staged["secret"]),
                              str(staged["good"]), "120"])
        assert p.returncode == 0, p.stderr
        servers = _servers(fleet)
        try:
            assert until(lambda: (home / "swap.out").is_symlink(), within=20)
            answers = {who: [] for who in servers}
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and min(map(len, answers.values())) < 120:
                for who, serve in servers.items():
                    answers[who] += [_output(serve, "swap"), _output(serve, "moved")]
            state = fleet.exec(HOST, ["systemctl", "is-active", unit]).stdout.strip()
            assert state == "active", fleet.exec(HOST, ["journalctl", "-u", unit]).stdout
            for who, got in answers.items():
                assert len(got) >= 40, (who, len(got))
                assert not any(SECRET in str(r) for r in got), who
                good = [r for r in got if r["ok"]]
                refused = [r for r in got if not r["ok"]]
                # both names were seen: the race really ran, and the good one still reads
                assert good and all(r["result"]["lines"][0] == "good line 1" for r in good), who
                assert {r["result"]["watcher"] for r in good} == {"swap", "moved"}, who
                assert refused and all("not readable by the circus user" in r["error"]
                                       or "changed while being checked" in r["error"]
                                       or "no such file" in r["error"] for r in refused), who
        finally:
            for serve in servers.values():
                serve.close()
            fleet.exec(HOST, ["systemctl", "stop", unit])
            script.unlink(missing_ok=True)
