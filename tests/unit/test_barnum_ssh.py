import errno
import socket
import threading

import paramiko
import pytest

from barnum.transport import ssh


@pytest.fixture(scope="module")
def keys():
    return paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()


def _lines(path):
    return [ln for ln in path.read_text().splitlines() if ln.strip()]


def test_accept_new_appends_exactly_once_under_concurrency(tmp_path, keys):
    kh = tmp_path / "ssh" / "known_hosts"  # parent does not exist yet
    policy = ssh.AcceptNewPolicy(kh)
    barrier = threading.Barrier(16)
    errors = []

    def connect():
        client = paramiko.SSHClient()
        barrier.wait()
        try:
            policy.missing_host_key(client, "host1", keys[0])
            assert client.get_host_keys().lookup("host1")["ecdsa-sha2-nistp256"] == keys[0]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=connect) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(_lines(kh)) == 1
    loaded = paramiko.HostKeys(str(kh))
    assert loaded.lookup("host1")["ecdsa-sha2-nistp256"] == keys[0]


def test_accept_new_many_hosts_concurrently_each_once(tmp_path, keys):
    kh = tmp_path / "known_hosts"
    policy = ssh.AcceptNewPolicy(kh)
    hosts = [f"h{i}" for i in range(20)] * 2
    threads = [
        threading.Thread(target=policy.missing_host_key, args=(paramiko.SSHClient(), h, keys[0]))
        for h in hosts
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(ln.split()[0] for ln in _lines(kh))
    assert names == sorted(set(hosts))


def test_accept_new_keeps_existing_lines_and_refuses_a_changed_key(tmp_path, keys):
    kh = tmp_path / "known_hosts"
    kh.write_text(f"# mine\nhost1 {keys[0].get_name()} {keys[0].get_base64()}\n")
    policy = ssh.AcceptNewPolicy(kh)
    with pytest.raises(paramiko.BadHostKeyException):
        policy.missing_host_key(paramiko.SSHClient(), "host1", keys[1])
    policy.missing_host_key(paramiko.SSHClient(), "[host2]:2222", keys[1])
    text = kh.read_text()
    assert text.startswith("# mine\nhost1 ")
    assert f"[host2]:2222 {keys[1].get_name()} {keys[1].get_base64()}\n" in text


def test_accept_new_hashed(tmp_path, keys):
    kh = tmp_path / "known_hosts"
    ssh.AcceptNewPolicy(kh, hashed=True).missing_host_key(paramiko.SSHClient(), "host1", keys[0])
    assert kh.read_text().startswith("|1|")
    assert paramiko.HostKeys(str(kh)).lookup("host1") is not None


def _conn(tmp_path, policy, warn=None, extra=""):
    cfg = tmp_path / "ssh_config"
    kh = tmp_path / "kh"
    cfg.write_text(f"Host h1\n  HostName 127.0.0.1\n  Port 2222\n  UserKnownHostsFile {kh}\n"
                   f"  GlobalKnownHostsFile {tmp_path / 'global'}\n{extra}")
    fab = ssh.fabric_config(str(cfg))
    return ssh.make_connection("h1", fab, 3, policy, warn or (lambda m: None)), kh


def test_strict_rejects_unknown_keys(tmp_path, keys):
    conn, _ = _conn(tmp_path, "strict")
    policy = conn.client._policy
    assert isinstance(policy, paramiko.RejectPolicy)
    conn.client._log = lambda *a: None  # RejectPolicy logs through a transport; none here
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        policy.missing_host_key(conn.client, "[127.0.0.1]:2222", keys[0])


def test_known_hosts_from_ssh_config_are_loaded(tmp_path, keys):
    kh = tmp_path / "kh"
    kh.write_text(f"[127.0.0.1]:2222 {keys[0].get_name()} {keys[0].get_base64()}\n")
    (tmp_path / "global").write_text(f"other {keys[1].get_name()} {keys[1].get_base64()}\n")
    conn, _ = _conn(tmp_path, "accept-new")
    system = conn.client._system_host_keys
    assert system.lookup("[127.0.0.1]:2222") is not None
    assert system.lookup("other") is not None
    assert isinstance(conn.client._policy, ssh.AcceptNewPolicy)
    assert conn.client._policy.path == kh
    assert conn.connect_timeout == 3
    assert conn.connect_kwargs["banner_timeout"] == 3
    assert conn.connect_kwargs["auth_timeout"] == 3
    assert conn.connect_kwargs["channel_timeout"] == 3


def test_off_warns_and_does_not_write(tmp_path, keys):
    said = []
    conn, kh = _conn(tmp_path, "off", said.append)
    conn.client._policy.missing_host_key(conn.client, "[127.0.0.1]:2222", keys[0])
    assert said and "NOT verified" in said[0]
    assert not kh.exists()


def test_missing_ssh_config_is_a_one_line_error(tmp_path):
    from barnum import BarnumError

    with pytest.raises(BarnumError, match="no such file"):
        ssh.fabric_config(str(tmp_path / "nope"))


class _Client:
    barnum_known_hosts = "/kh"


class _C:
    host, port, user, client = "10.0.0.3", 22, "barnumop", _Client()


@pytest.mark.parametrize(
    ("exc", "expect"),
    [
        (paramiko.ssh_exception.NoValidConnectionsError(
            {("10.0.0.3", 22): OSError(errno.ECONNREFUSED, "refused")}),
         "cannot connect to 10.0.0.3:22: connection refused (is the host up?"),
        (TimeoutError("timed out"), "timed out after 10s connecting to 10.0.0.3:22"),
        (socket.gaierror(-2, "Name or service not known"), "cannot resolve 10.0.0.3"),
        (paramiko.AuthenticationException("Authentication failed."),
         "authentication failed for barnumop (key refused)"),
        # paramiko's auth_timeout: sshd did not answer in time, it refused nothing
        (paramiko.AuthenticationException("Authentication timeout."),
         "timed out after 10s authenticating as barnumop at 10.0.0.3:22"),
        (paramiko.PasswordRequiredException("encrypted"), "private key is encrypted"),
        (paramiko.SSHException("No authentication methods available"), "no key to offer"),
        (paramiko.SSHException("No existing session"), "accepts TCP but speaks no SSH"),
        (paramiko.SSHException("Server '[h]:22' not found in known_hosts"),
         "unknown host key"),
        (EOFError(), "connection to 10.0.0.3:22 lost"),
    ],
)
def test_classify_one_line(exc, expect):
    msg = ssh.classify(exc, _C(), 10)
    assert expect in msg
    assert "\n" not in msg


def test_no_ssh_is_a_timeout_only_at_the_deadline():
    exc = paramiko.SSHException("Error reading SSH protocol banner")
    assert ssh.classify(exc, _C(), 6) == "10.0.0.3:22 accepts TCP but speaks no SSH " \
        "(Error reading SSH protocol banner)"
    assert ssh.classify(exc, _C(), 6, at_deadline=True) == (
        "timed out after 6s: 10.0.0.3:22 accepts TCP but sent no SSH banner")


def test_classify_changed_key(keys):
    exc = paramiko.BadHostKeyException("host5", keys[0], keys[1])
    msg = ssh.classify(exc, _C(), 10)
    assert msg.startswith("host key changed! (known_hosts /kh")
    assert "\n" not in msg


def test_classify_command_timeout():
    from invoke.exceptions import CommandTimedOut

    assert ssh.classify(CommandTimedOut(None, 10), _C(), 10).startswith("timed out after 10s")


def test_known_hosts_tokens(monkeypatch):
    monkeypatch.setenv("HOME", "/home/op")
    users, globals_ = ssh.known_hosts_files({"userknownhostsfile": "%d/.ssh/kh ~/b 100%%"})
    assert [str(p) for p in users] == ["/home/op/.ssh/kh", "/home/op/b", "100%"]
    assert [str(p) for p in globals_] == ["/etc/ssh/ssh_known_hosts"]


def test_known_hosts_path_is_per_connection(tmp_path):
    """Regression: an attribute set on a Connection leaked into the shared Fabric config."""
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host a\n  UserKnownHostsFile {tmp_path}/ka\nHost b\n"
                   f"  UserKnownHostsFile {tmp_path}/kb\n")
    fab = ssh.fabric_config(str(cfg))
    a = ssh.make_connection("a", fab, 3, "accept-new", print)
    ssh.make_connection("b", fab, 3, "accept-new", print)
    assert ssh.classify(paramiko.BadHostKeyException("a", CLIENT, CLIENT), a, 3).startswith(
        f"host key changed! (known_hosts {tmp_path}/ka ")


CLIENT = paramiko.ECDSAKey.generate()
