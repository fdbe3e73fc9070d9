"""barnum.oneshot.pool against in-process SSH servers (paramiko) on 127.0.0.1.

Not the real fleet (tests/fleet/ does that): these prove the pool, the host
key handling, shipped mode and the one-line errors without root or sshd.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import paramiko
import pytest

from bailey.report import Instance, Report
from barnum.model.config import Config
from barnum.model.discovery import Discovery
from barnum.model.results import FleetResult, HostResult, interpret
from barnum.model.thishost import unit_host
from barnum.oneshot import pool as fleet
from barnum.oneshot.plan import HostPlan, Plan, plan
from barnum.oneshot.pool import run_fleet
from barnum.transport.options import Options

CLIENT_KEY = paramiko.ECDSAKey.generate()
HOST_KEY = paramiko.ECDSAKey.generate()
OTHER_HOST_KEY = paramiko.ECDSAKey.generate()


def _doc(host="h", state="ok", errors=()):
    """A document from ``host``: its unit is named for it, as bailey names them."""
    r = Report(host=host, bailey_version="0.1.0", circusctl_args=["status"], errors=list(errors))
    r.instances.append(Instance(f"circus_u_{host}.service", "u", "User=", "enabled", "active",
                                "running", state=state, watchers={"web": "active"}))
    return r.to_dict()


class _Server(paramiko.ServerInterface):
    def __init__(self, hang: bool, name: str = "") -> None:
        self.hang, self.name = hang, name

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED  # noqa: E501

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        return paramiko.AUTH_SUCCESSFUL if key == CLIENT_KEY else paramiko.AUTH_FAILED

    def check_channel_exec_request(self, channel, command):
        threading.Thread(target=self._exec, args=(channel, command.decode()), daemon=True).start()
        return True

    def _exec(self, channel, command):
        time.sleep(0.05)  # let paramiko send the exec request's success reply first
        if self.hang:
            time.sleep(60)
        p = subprocess.run(["sh", "-c", command], capture_output=True, timeout=60,
                           env={**os.environ, "FAKE_HOST": self.name})
        channel.sendall(p.stdout)
        channel.sendall_stderr(p.stderr)
        channel.send_exit_status(p.returncode)
        channel.close()


class SSHD:
    """A tiny SSH server: runs exec requests with the local sh; or hangs; or never speaks."""

    def __init__(self, host_key=HOST_KEY, hang=False, mute=False, name=""):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.host_key, self.hang, self.mute, self.name = host_key, hang, mute, name
        self.transports = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            if self.mute:
                self.transports.append(s)
                continue
            t = paramiko.Transport(s)
            t.add_server_key(self.host_key)
            t.start_server(server=_Server(self.hang, self.name))
            self.transports.append(t)

    def close(self):
        self.sock.close()
        for t in self.transports:
            t.close()


@pytest.fixture
def env(tmp_path):
    """Servers by name, an ssh_config for them, and a known_hosts file."""
    key = tmp_path / "id_ecdsa"
    CLIENT_KEY.write_private_key_file(str(key))
    servers = {
        "good": SSHD(name="good"),
        "good2": SSHD(name="good2"),
        "hang": SSHD(hang=True),
        "mute": SSHD(mute=True),
        "changed": SSHD(host_key=OTHER_HOST_KEY),
    }
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{servers['changed'].port} {HOST_KEY.get_name()} "
                  f"{HOST_KEY.get_base64()}\n")
    cfg = tmp_path / "ssh_config"
    blocks = [(n, s.port) for n, s in servers.items()] + [("down", closed_port)]
    cfg.write_text("".join(
        f"Host {n}\n  HostName 127.0.0.1\n  Port {p}\n  User tester\n  IdentityFile {key}\n"
        f"  UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n"
        for n, p in blocks
    ))
    fake = tmp_path / "fake-bailey"
    fake.write_text(f"#!/bin/sh\necho bailey-verbose-line >&2\n"
                    f"sed \"s/@HOST@/$FAKE_HOST/g\" {tmp_path / 'doc.json'}\n")
    fake.chmod(0o755)
    (tmp_path / "doc.json").write_text(json.dumps(_doc("@HOST@")))  # each server's own name
    yield {"cfg": str(cfg), "kh": kh, "fake": str(fake), "servers": servers, "tmp": tmp_path}
    for s in servers.values():
        s.close()


def _plan(*hosts, bailey_args=(), circusctl=None):
    return Plan([HostPlan(h) for h in hosts], list(bailey_args), circusctl)


def test_good_hosts_parallel_accept_new(env):
    opts = Options(ssh_config=env["cfg"], bailey=env["fake"], timeout=5)
    res = run_fleet(_plan("good", "good2"), opts)
    assert [h.host for h in res.hosts] == ["good", "good2"]
    for h in res.hosts:
        assert h.error is None, h.error
        assert h.report is not None and h.report.instances[0].watchers == {"web": "active"}
    assert res.exit_code == 0
    lines = env["kh"].read_text().splitlines()
    assert len(lines) == 3  # the pre-existing one plus one per new host
    # a second run finds the keys and appends nothing
    assert run_fleet(_plan("good", "good2"), opts).exit_code == 0
    assert len(env["kh"].read_text().splitlines()) == 3


def test_strict_refuses_unknown_host(env):
    opts = Options(ssh_config=env["cfg"], bailey=env["fake"], timeout=5, host_key_policy="strict")
    res = run_fleet(_plan("good"), opts)
    assert res.hosts[0].error.startswith("unknown host key for 127.0.0.1")
    assert res.exit_code == 3


@pytest.mark.parametrize("policy", ["accept-new", "off", "strict"])
def test_changed_key_is_always_an_error(env, policy):
    opts = Options(ssh_config=env["cfg"], bailey=env["fake"], timeout=5, host_key_policy=policy)
    res = run_fleet(_plan("changed"), opts)
    assert res.hosts[0].error.startswith("host key changed!")


def test_down_and_mute_and_hang_are_one_line_each_and_bounded(env):
    opts = Options(ssh_config=env["cfg"], bailey=env["fake"], timeout=2)
    t0 = time.monotonic()
    res = run_fleet(_plan("good", "down", "mute", "hang"), opts)
    took = time.monotonic() - t0
    by = {h.host: h for h in res.hosts}
    assert by["good"].error is None
    assert by["down"].error.startswith("cannot connect to 127.0.0.1:")
    assert "connection refused" in by["down"].error
    assert "timed out after 2s" in by["mute"].error
    assert by["hang"].error.startswith("timed out after 2s")
    assert res.exit_code == 3
    assert took < 2 + fleet.GRACE + 1.5


def test_not_installed_ships_bailey(env):
    opts = Options(ssh_config=env["cfg"], bailey="no-such-bailey-here", timeout=20)
    res = run_fleet(_plan("good"), opts)
    h = res.hosts[0]
    assert h.shipped
    assert h.report is not None, (h.error, h.stderr)


def test_not_installed_without_auto_ship(env):
    opts = Options(ssh_config=env["cfg"], bailey="no-such-bailey-here", timeout=5,
                   auto_ship=False)
    h = run_fleet(_plan("good"), opts).hosts[0]
    assert h.error == "bailey not found; rerun with --ship"


def test_verbose_relays_bailey_stderr(env):
    said = []
    opts = Options(ssh_config=env["cfg"], bailey=env["fake"], timeout=5, verbose=True)
    run_fleet(_plan("good"), opts, log=said.append)
    assert "Processing good" in said
    assert any(s.startswith("good: bailey cmd: ") and "--verbose" in s for s in said)
    assert "good: bailey-verbose-line" in said


def test_pool_abandons_a_stuck_host(monkeypatch):
    """A thread stuck somewhere no SSH timeout reaches is abandoned at the deadline."""
    forever = threading.Event()

    def fake(job, connector, deadline):
        if job.hp.host == "stuck":
            forever.wait()
        return HostResult(job.hp.host, [], job.argv, stdout=json.dumps(_doc(job.hp.host)),
                          exit_status=0)

    monkeypatch.setattr(fleet, "_run", fake)
    p = Plan([HostPlan("stuck", local=True)] + [HostPlan(f"h{i}", local=True) for i in range(5)])
    seen = []
    t0 = time.monotonic()
    res = run_fleet(p, Options(timeout=0.5, fanout=1), on_result=lambda r: seen.append(r.host))
    assert time.monotonic() - t0 < 3
    by = {h.host: h for h in res.hosts}
    assert by["stuck"].error == "timed out after 0.5s"
    assert all(by[f"h{i}"].report is not None for i in range(5))  # fanout 1, yet all ran
    assert sorted(seen) == sorted(by)
    forever.set()


def test_interpret_variants():
    r = HostResult("h", [], [], stdout="usage: bailey ...\n", exit_status=0)
    interpret(r)
    assert r.error is None and r.report is None and r.ok
    r = HostResult("h", [], [], stdout="", stderr="bailey: error: unrecognized arguments: -x\n",
                   exit_status=2)
    interpret(r)
    assert r.error == "bailey rejected its arguments: bailey: error: unrecognized arguments: -x"
    r = HostResult("h", [], [], stdout="Traceback (most recent call last):\n", exit_status=1)
    interpret(r)
    assert r.error == "bailey printed no JSON: Traceback (most recent call last):"
    r = HostResult("h", [], [], stdout='{"schema": "other/9"}', exit_status=0)
    interpret(r)
    assert r.error.startswith("bailey printed an invalid document: not a bailey/1 document")


def test_exit_codes_and_json_shape():
    def hr(host, doc=None, error=None):
        r = HostResult(host, [], ["bailey", "--json"], stdout=json.dumps(doc) if doc else "",
                       exit_status=0, error=error)
        if doc:
            interpret(r)
        return r

    ok = hr("a", _doc("a"))
    bad = hr("b", _doc("b", state="unit-failed"))
    down = hr("c", error="cannot connect")
    hostfail = hr("d", _doc("d", errors=["systemctl failed"]))
    hostfail.report.instances.clear()
    assert FleetResult([ok]).exit_code == 0
    assert FleetResult([ok, bad]).exit_code == 1
    assert FleetResult([ok, bad, down]).exit_code == 3
    assert FleetResult([ok, hostfail]).exit_code == 3
    doc = json.loads(json.dumps(FleetResult([ok, down]).to_dict()))
    assert doc["schema"] == "barnum/1" and doc["exit"] == 3
    assert set(doc["hosts"][0]) >= {"host", "ok", "elapsed", "error", "bailey", "raw_stdout"}
    assert doc["hosts"][0]["bailey"]["schema"] == "bailey/1"
    assert doc["hosts"][1] | {} and doc["hosts"][1]["ok"] is False
    assert Report.from_dict(doc["hosts"][0]["bailey"]).exit == 0


def test_plan_resolves_and_flags_local_host():
    d = Discovery(hosts={"localhost": ["u1"], "web1": ["u1", "u2"]})
    p = plan(Config(users=["u1", "u2"]), ["u2@web1", "localhost"], ["-v"], ["stats"],
                   discovery=d, local=True)
    assert [(h.host, h.users, h.local) for h in p.hosts] == [
        ("localhost", [], True), ("web1", ["u2"], False)]
    q = plan(Config(users=["u1"]), ["localhost"], discovery=d)
    assert not q.hosts[0].local  # without the operator's --local: over SSH
    assert p.argv(p.hosts[1], Options()) == ["bailey", "--json", "u2", "-v", "--", "stats"]


def test_plan_no_hosts_is_usage_error():
    from barnum import BarnumError

    with pytest.raises(BarnumError) as e:
        plan(Config(users=["u1"]), [], discovery=Discovery())
    assert e.value.exit_code == 2


def test_local_host_runs_without_ssh(tmp_path):
    fake = tmp_path / "b"
    fake.write_text(f"#!{sys.executable}\nimport sys, json\n"
                    f"print(json.dumps({_doc(unit_host('localhost'))!r}))\n")
    fake.chmod(0o755)
    res = run_fleet(Plan([HostPlan("localhost", local=True)]), Options(bailey=str(fake)))
    assert res.hosts[0].report is not None and res.exit_code == 0


def _serve_session(env, hosts, **options):
    from barnum.live.session import FleetSession
    from barnum.model.config import Config
    from barnum.model.discovery import Discovery

    said: list[str] = []
    opts = Options(ssh_config=env["cfg"], timeout=5, verbose=True, **options)
    s = FleetSession(Config(users=["tester"]), opts,
                     discovery=Discovery(hosts={h: ["tester"] for h in hosts}),
                     log=lambda m: said.append("warning: " + m), debug=said.append)
    return s, said


def test_session_ships_over_ssh_by_the_one_rule(env):
    """The session's serve stream over SSH: bailey missing (the shell's 127) -> shipped
    to python3, as the one-shot path does; bailey's stderr relayed with --verbose.
    This test server runs a command to its end without stdin, so the shipped bailey
    sends its hello and then ends: the link reads the hello, then loses the stream
    (the fleet tests keep one open: tests/e2e/test_common_flags_e2e.py)."""
    s, said = _serve_session(env, ["good"], bailey="no-such-bailey-here")
    with s:
        st = s.host_states()["good"]
    assert st.error == "connection closed (bailey --serve ended)", (st, said)
    assert "good: connecting over SSH" in said
    assert "good: bailey not installed; shipping it to python3" in said
    assert "good: bailey cmd: no-such-bailey-here --serve --timeout 2 (shipped)" in said
    assert any(m.startswith("good: ") and "no-such-bailey-here: not found" in m
               for m in said), said  # the shell's own words, relayed


def test_session_no_ship_and_bailey_that_will_not_run(env):
    s, _ = _serve_session(env, ["good"], bailey="no-such-bailey-here", auto_ship=False)
    with s:
        assert s.host_states()["good"].error == "bailey not found; rerun with --ship"
    s, _ = _serve_session(env, ["good"], bailey="/bin/false")
    with s:
        assert s.host_states()["good"].error == "bailey --serve did not start (exit 1)"
