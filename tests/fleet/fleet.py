"""A fleet of real hosts on this machine: systemd as PID 1, sshd, circusd per user.

Follows ../shared/test-fleet.md.  Everything a fleet makes carries its name:
netns ``<name>-hostN``, veths ``<name>vN``, bridge ``<name>-br``, cgroup
folders ``<name>/`` and the state folder /opt/barnum-fleet/<name>/, so a
fleet left by a crash is found and removed by the next ``up()``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from tests.fleet.layout import HostSpec, UnitSpec
from tests.fleet.venv import ROOT, VENV, ensure_venv

HOSTINIT = Path(__file__).with_name("pid1.sh")
OPERATOR = "barnumop"
FIRST_UID = 61000
CGROUP_ROOTS = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))
BOOT_TIMEOUT = 60.0
SUBNET_BASE = "10.213"  # 10.213.<k>.0/24, k chosen free per fleet
HOST_PATH = "/usr/local/bin:/usr/bin:/bin"
UDEV_UNITS = ("systemd-udevd.service", "systemd-udevd-control.socket",
              "systemd-udevd-kernel.socket", "systemd-udev-trigger.service",
              "systemd-udev-settle.service")


def _run(argv: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.run(argv, check=False, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {(p.stderr or '').strip()}")
    return p


class _Fault:
    """A fault switched on now; ``with`` switches it off at the end of the block."""

    def __init__(self, undo) -> None:
        self._undo = undo

    def __enter__(self) -> _Fault:
        return self

    def __exit__(self, *exc) -> None:
        self._undo()


class Fleet:
    """One fleet; ``up()`` boots it, ``down()`` removes all it made."""

    def __init__(self, name: str, layout: list[HostSpec], users_extra: str = "") -> None:
        if not name.isalnum() or len(name) > 8:
            raise ValueError("fleet name: up to 8 letters or digits")
        self.name = name
        self.layout = layout
        self.state = ROOT / name
        self.homes = self.state / "users"
        self.venv = VENV
        self.ssh_config = self.state / "ssh_config"
        self.known_hosts = self.state / "known_hosts"
        self.users_file = self.state / "circus_users.yaml"
        self.users_extra = users_extra  # YAML appended to the users file (groups, expect...)
        self.key = self.state / "id_ed25519"
        self.subnet: int | None = None
        self.pids: dict[str, int] = {}
        self.owner: list[int] | None = None  # [pid, start time] of the process that booted it

    # -- identity -------------------------------------------------------------------------

    @property
    def hosts(self) -> list[str]:
        return [h.name for h in self.layout]

    @property
    def users(self) -> list[str]:
        seen: dict[str, None] = {}
        for h in self.layout:
            for u in [*h.users, *h.orphan_configs]:
                seen.setdefault(u, None)
        return sorted(seen, key=lambda u: (len(u), u))

    def address(self, host: str) -> str:
        return f"{SUBNET_BASE}.{self.subnet}.{self.hosts.index(host) + 2}"

    def netns(self, host: str) -> str:
        return f"{self.name}-{host}"

    def port(self, user: str) -> int:
        """The port of ``user``'s circusd endpoint (pubsub is the next one)."""
        return 5500 + 10 * self.users.index(user)

    def uid(self, user: str) -> int:
        return FIRST_UID if user == OPERATOR else FIRST_UID + 1 + self.users.index(user)

    def _hostdir(self, host: str) -> Path:
        return self.state / "hosts" / host

    # -- life cycle -----------------------------------------------------------------------

    @classmethod
    def load(cls, name: str) -> Fleet:
        """The fleet ``up()`` left on disk (for ``fleet.down`` from another process)."""
        state = ROOT / name / "fleet.json"
        if not state.exists():
            return cls(name, [])
        doc = json.loads(state.read_text())
        layout = [
            HostSpec(h["name"], [UnitSpec(**u) for u in h["units"]], h["orphan_configs"],
                     h["bailey_installed"])
            for h in doc["layout"]
        ]
        f = cls(name, layout)
        f.subnet = doc["subnet"]
        f.pids = doc["pids"]
        f.owner = doc.get("owner")
        return f

    def up(self) -> Fleet:
        leftover = Fleet.load(self.name)
        if _running(leftover.owner):
            # Another live process booted a fleet of this name and may still use it:
            # taking it down would kill its hosts under it (two checkouts, one name).
            raise RuntimeError(f"fleet {self.name!r} is in use by pid {leftover.owner[0]}; "
                               "give this one another name (BARNUM_TEST_FLEET=...)")
        leftover.down()  # a leftover of a crash, with its recorded PIDs
        self.owner = _identity(os.getpid())
        ensure_venv(self.venv)
        ROOT.mkdir(parents=True, exist_ok=True)
        with open(ROOT / ".subnet.lock", "w") as lock:  # fleets booting at once
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.subnet = self._free_subnet()
            self.state.mkdir(parents=True)
            os.chmod(self.state, 0o755)
            self._save()
        try:
            self._write_accounts()
            self._write_keys()
            self._network()
            for h in self.layout:
                self._write_host(h)
            self._save()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(self._boot, self.layout))
            self._save()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(self._wait_ready, self.hosts))
            self._stage_after_boot()
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        return self

    def down(self) -> None:
        """Power off, kill stragglers, remove netns, links, cgroups and state."""
        for pid in self.pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGRTMIN + 4)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in self.pids.values()):
            time.sleep(0.1)
        for _ in range(20):
            procs = self._cgroup_procs()
            if not procs:
                break
            for pid in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        for root in CGROUP_ROOTS:
            top = root / self.name
            if top.exists():  # deepest first; folders vanish as we walk (os.walk copes)
                for folder, _, _ in os.walk(top, topdown=False):
                    with contextlib.suppress(OSError):
                        os.rmdir(folder)
        for ns in _run(["ip", "netns", "list"]).stdout.split():
            if ns.startswith(f"{self.name}-"):
                _run(["ip", "netns", "del", ns], check=False)
        _run(["ip", "link", "del", f"{self.name}-br"], check=False)
        for link in _links():
            rest = link.removeprefix(f"{self.name}v")
            if rest != link and rest.isdigit():
                _run(["ip", "link", "del", link], check=False)
        if self.state.exists():
            shutil.rmtree(self.state)
        self.pids = {}

    def status(self) -> dict[str, str]:
        return {
            h: self.exec(h, ["systemctl", "is-system-running"]).stdout.strip() or "unreachable"
            for h in self.hosts
        }

    # -- reaching inside ------------------------------------------------------------------

    def exec(self, host: str, argv: list[str], user: str | None = None,
             timeout: float = 30) -> subprocess.CompletedProcess:
        """Run argv inside ``host`` (all its namespaces), as root or ``user``."""
        cmd = ["nsenter", "-t", str(self.pids[host]), "-a"]
        if user is not None:
            uid = self.uid(user)
            cmd += ["-S", str(uid), "-G", str(uid)]
        home = str(self.homes / user) if user else "/root"
        env = {"PATH": HOST_PATH, "LANG": "C.UTF-8", "HOME": home}
        return _run([*cmd, *argv], check=False, timeout=timeout, env=env)

    def ssh(self, host: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        """Run argv on ``host`` through real SSH as the operator."""
        import shlex

        return _run(["ssh", "-F", str(self.ssh_config), host, "--", shlex.join(argv)],
                    check=False, timeout=timeout)

    def main_pid(self, host: str, unit: str) -> int:
        out = self.exec(host, ["systemctl", "show", "-p", "MainPID", "--value", unit])
        return int(out.stdout.strip() or 0)

    def _signal(self, host: str, unit: str, sig: str) -> None:
        pid = self.main_pid(host, unit)
        if not pid:
            raise RuntimeError(f"{host}: {unit} has no main process")
        self.exec(host, ["kill", f"-{sig}", str(pid)])

    # -- faults ---------------------------------------------------------------------------

    def host_down(self, host: str) -> _Fault:
        _run(["ip", "-n", self.netns(host), "link", "set", "eth0", "down"])
        return _Fault(lambda: self.host_up(host))

    def host_up(self, host: str) -> None:
        _run(["ip", "-n", self.netns(host), "link", "set", "eth0", "up"])

    def sshd_hang(self, host: str) -> _Fault:
        self._signal(host, "ssh.service", "STOP")
        return _Fault(lambda: self.sshd_resume(host))

    def sshd_resume(self, host: str) -> None:
        self._signal(host, "ssh.service", "CONT")

    def circusd_hang(self, host: str, user: str) -> _Fault:
        self._signal(host, f"circus_{user}_{host}.service", "STOP")
        return _Fault(lambda: self.circusd_resume(host, user))

    def circusd_resume(self, host: str, user: str) -> None:
        self._signal(host, f"circus_{user}_{host}.service", "CONT")

    def sudoers(self, host: str, text: str) -> _Fault:
        """A sudoers rule on ``host`` only, in its own /etc/sudoers.d (a fleet file
        bound there at boot; the machine's /etc/sudoers.d is never touched)."""
        path = self._hostdir(host) / "sudoers.d" / "barnum"
        tmp = path.with_suffix(".tmp")  # sudo skips names with a '.'
        tmp.write_text(text if text.endswith("\n") else text + "\n")
        os.chmod(tmp, 0o440)
        check = _run(["visudo", "-c", "-q", "-f", str(tmp)], check=False)
        if check.returncode != 0:
            tmp.unlink()
            raise ValueError(f"sudoers rule rejected by visudo: {check.stdout}{check.stderr}")
        tmp.rename(path)
        return _Fault(lambda: path.unlink(missing_ok=True))

    def root_login(self, host: str) -> _Fault:
        """Let the operator's key log in as root on ``host`` (sshd's default
        PermitRootLogin prohibit-password allows keys)."""
        keys = self._hostdir(host) / "ssh" / "authorized_keys"
        shutil.copy2(keys / OPERATOR, keys / "root")
        return _Fault(lambda: (keys / "root").unlink(missing_ok=True))

    def refuse_key(self, host: str) -> _Fault:
        keys = self._hostdir(host) / "ssh" / "authorized_keys" / OPERATOR
        if keys.exists():
            keys.rename(keys.with_suffix(".off"))
        return _Fault(lambda: self.accept_key(host))

    def accept_key(self, host: str) -> None:
        keys = self._hostdir(host) / "ssh" / "authorized_keys" / OPERATOR
        off = keys.with_suffix(".off")
        if off.exists():
            off.rename(keys)

    def change_host_key(self, host: str) -> _Fault:
        ssh = self._hostdir(host) / "ssh"
        key = ssh / "ssh_host_ed25519_key"
        saved = ssh / "saved_host_key"
        if not saved.exists():
            key.rename(saved)
            key.with_suffix(".pub").rename(saved.with_suffix(".pub"))
            _keygen(key)
            self.exec(host, ["systemctl", "restart", "ssh.service"])
        return _Fault(lambda: self.restore_host_key(host))

    def restore_host_key(self, host: str) -> None:
        ssh = self._hostdir(host) / "ssh"
        key = ssh / "ssh_host_ed25519_key"
        saved = ssh / "saved_host_key"
        if saved.exists():
            saved.replace(key)
            saved.with_suffix(".pub").replace(key.with_suffix(".pub"))
            self.exec(host, ["systemctl", "restart", "ssh.service"])

    # -- building -------------------------------------------------------------------------

    def _save(self) -> None:
        doc = {"subnet": self.subnet, "pids": self.pids, "owner": self.owner,
               "layout": [asdict(h) for h in self.layout]}
        (self.state / "fleet.json").write_text(json.dumps(doc, indent=1))

    def _free_subnet(self) -> int:
        used = set()
        for f in ROOT.glob("*/fleet.json"):
            with contextlib.suppress(Exception):
                used.add(json.loads(f.read_text())["subnet"])
        addrs = _run(["ip", "-o", "-4", "addr"]).stdout
        for k in range(10, 250):
            if k not in used and f" {SUBNET_BASE}.{k}." not in addrs:
                return k
        raise RuntimeError("no free fleet subnet")

    def _write_accounts(self) -> None:
        """Fleet-local passwd/group/shadow: the machine's own stay untouched.

        The fleet's accounts win inside the hosts: a machine account with the
        same name or id as a fleet account (a real ``user1`` with another
        home) is left out of the hosts' copies, and the fleet's come first.
        """
        etc = self.state / "etc"
        etc.mkdir()
        fleet_users = [OPERATOR, *self.users]
        names = set(fleet_users)
        ids = {str(self.uid(u)) for u in fleet_users}
        # barnum-ops: the group the README's sudoers line names; the operator is in it.
        names.add("barnum-ops")
        ids.add(str(FIRST_UID - 1))
        passwd = group = shadow = ""
        for user in fleet_users:
            uid = self.uid(user)
            home = self.homes / user
            passwd += f"{user}:x:{uid}:{uid}:barnum fleet:{home}:/bin/bash\n"
            group += f"{user}:x:{uid}:\n"
            shadow += f"{user}:*:19000:0:99999:7:::\n"
            home.mkdir(parents=True)
            os.chown(home, uid, uid)
            os.chmod(home, 0o755)
        passwd += _without(Path("/etc/passwd").read_text(), names, ids, id_field=2)
        shadow += _without(Path("/etc/shadow").read_text(), names, set(), id_field=None)
        machine_groups = _without(Path("/etc/group").read_text(), names, ids, id_field=2)
        # The operator reads the circus units' journal, as an operator account
        # in group systemd-journal does (README: what the operator may do).
        # A machine group's members named like a fleet account are not them.
        group += f"barnum-ops:x:{FIRST_UID - 1}:{OPERATOR}\n"
        for line in machine_groups.splitlines():
            f = line.split(":")
            f += [""] * (4 - len(f))
            members = [m for m in f[3].split(",") if m and m not in names]
            if f[0] == "systemd-journal":
                members.append(OPERATOR)
            group += ":".join([*f[:3], ",".join(members), *f[4:]]) + "\n"
        (etc / "passwd").write_text(passwd)
        (etc / "group").write_text(group)
        (etc / "shadow").write_text(shadow)
        os.chmod(etc / "shadow", 0o640)
        os.chmod(self.homes, 0o755)

    def _write_keys(self) -> None:
        _keygen(self.key)
        cfg = []
        for h in self.hosts:
            cfg.append(
                f"Host {h}\n  HostName {self.address(h)}\n  User {OPERATOR}\n"
                f"  IdentityFile {self.key}\n  UserKnownHostsFile {self.known_hosts}\n"
                "  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n  BatchMode yes\n"
                "  ConnectTimeout 5\n  LogLevel ERROR\n"
            )
        self.ssh_config.write_text("\n".join(cfg))
        template = f"{self.homes}/{{user}}/circus/{{host}}/circus.ini"
        self.users_file.write_text(
            f"users: [{', '.join(self.users)}]\n"
            f"config_template: {template}\n"
            f"ssh_config: {self.ssh_config}\n" + self.users_extra
        )

    def _network(self) -> None:
        br = f"{self.name}-br"
        _run(["ip", "link", "add", br, "type", "bridge"])
        _run(["ip", "addr", "add", f"{SUBNET_BASE}.{self.subnet}.1/24", "dev", br])
        _run(["ip", "link", "set", br, "up"])
        for i, h in enumerate(self.hosts, start=1):
            ns, veth = self.netns(h), f"{self.name}v{i}"
            _run(["ip", "netns", "add", ns])
            # An explicit MAC: a host's udevd would otherwise derive one from
            # the machine-id, and hosts sharing it would share a MAC.
            mac = f"02:ba:{self.subnet:02x}:00:00:{i:02x}"
            _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
                  "address", mac, "netns", ns])
            _run(["ip", "link", "set", veth, "master", br, "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{self.address(h)}/24", "dev", "eth0"])
            _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _write_host(self, spec: HostSpec) -> None:
        hd = self._hostdir(spec.name)
        (hd / "root").mkdir(parents=True)
        etc = hd / "etc"
        etc.mkdir()
        for f in ("passwd", "group", "shadow"):
            shutil.copy2(self.state / "etc" / f, etc / f)
        (etc / "hostname").write_text(spec.name + "\n")
        (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
        hosts = "127.0.0.1 localhost\n" + "".join(
            f"{self.address(h)} {h}\n" for h in self.hosts)
        (etc / "hosts").write_text(hosts)
        ssh = hd / "ssh"
        (ssh / "authorized_keys").mkdir(parents=True)
        _keygen(ssh / "ssh_host_ed25519_key")
        (ssh / "sshd_config").write_text(
            "HostKey /etc/ssh/ssh_host_ed25519_key\n"
            "AuthorizedKeysFile /etc/ssh/authorized_keys/%u\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM yes\nPrintMotd no\nUseDNS no\nMaxStartups 100\n"
        )
        shutil.copy2(self.key.with_suffix(".pub"), ssh / "authorized_keys" / OPERATOR)
        (hd / "sudoers.d").mkdir(mode=0o750)  # bound over the host's /etc/sudoers.d
        pub = (ssh / "ssh_host_ed25519_key.pub").read_text().split()
        with self.known_hosts.open("a") as kh:
            kh.write(f"{spec.name},{self.address(spec.name)} {pub[0]} {pub[1]}\n")
        bindir = hd / "bin"
        bindir.mkdir()
        tools = ["circusctl", "circusd"] + (["bailey"] if spec.bailey_installed else [])
        for tool in tools:
            (bindir / tool).symlink_to(self.venv / "bin" / tool)
        system = hd / "system"
        wants = system / "fleet.target.wants"
        wants.mkdir(parents=True)
        # No udev in a host: its trigger at boot replays every device of the
        # machine, and 97 hosts' udevds (1700 workers on sysfs) stalled the
        # machine for minutes.  A host needs no device management.
        for unit in UDEV_UNITS:
            (system / unit).symlink_to("/dev/null")
        (system / "fleet.target").write_text(
            "[Unit]\nDescription=barnum fleet host\n"
            "Wants=ssh.service dbus.socket dbus.service systemd-user-sessions.service\n"
        )
        for u in spec.units:
            unit = f"circus_{u.user}_{spec.name}.service"
            home = self.homes / u.user
            (system / unit).write_text(
                f"[Unit]\nDescription=circus of {u.user} on {spec.name}\n\n"
                f"[Service]\nUser={u.user}\nWorkingDirectory={home}\n"
                f"ExecStart={self.venv}/bin/circusd {home}/circus/{spec.name}/circus.ini\n"
                "Restart=no\n\n[Install]\nWantedBy=fleet.target\n"
            )
            if u.enabled:
                (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")
            if u.config != "missing":
                self._write_ini(u.user, spec.name, u.config)
        for user in spec.orphan_configs:
            self._write_ini(user, spec.name, "ok")

    def _write_ini(self, user: str, host: str, kind: str) -> None:
        port = self.port(user)
        form = ("tcp://127.0.0.1", "tcp://0.0.0.0", "tcp://*")[self.users.index(user) % 3]
        text = (
            f"[circus]\nendpoint = {form}:{port}\n"
            f"pubsub_endpoint = tcp://127.0.0.1:{port + 1}\n"
            "check_delay = 1\n\n"
            "[watcher:sleeper]\ncmd = /bin/sleep 3600\nnumprocesses = 1\n\n"
            "[watcher:ticker]\ncmd = /bin/sleep 3601\nnumprocesses = 1\n"
        )
        if kind == "failing":  # readable for bailey, rejected by circusd
            text += "\n[watcher:ghost]\ncmd = /bin/true\nnumprocesses = not-a-number\n"
        d = self.homes / user / "circus" / host
        d.mkdir(parents=True, exist_ok=True)
        (d / "circus.ini").write_text(text)
        uid = self.uid(user)
        for p in (d.parent, d, d / "circus.ini"):
            os.chown(p, uid, uid)

    def _boot(self, spec: HostSpec) -> None:
        host = spec.name
        cgroups = [root / self.name / host for root in CGROUP_ROOTS]
        for cg in cgroups:
            cg.mkdir(parents=True, exist_ok=True)

        log = (self._hostdir(host) / "boot.log").open("w")
        # The shell writes its own PID into the host's cgroups, then becomes
        # `ip netns exec ... unshare ...`: no preexec_fn (unsafe with threads).
        enter = 'for f in "$0" "$1"; do echo $$ > "$f"; done; shift; exec "$@"'
        proc = subprocess.Popen(
            ["sh", "-c", enter, *(str(cg / "cgroup.procs") for cg in cgroups),
             "ip", "netns", "exec", self.netns(host), "unshare", "--cgroup", "--pid", "--fork",
             "--mount", "--uts", "--mount-proc", "--propagation", "private",
             str(HOSTINIT), host, str(self._hostdir(host)), str(self.homes)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
            with contextlib.suppress(OSError):
                kids = children.read_text().split()
                if kids:
                    self.pids[host] = int(kids[0])
                    return
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{host}: did not start: {self._log_tail(host)}")

    def _wait_ready(self, host: str) -> None:
        # A big fleet boots its hosts' systemds at once on a shared machine:
        # give it time in proportion, and let a slow answer be a "not yet".
        limit = BOOT_TIMEOUT + len(self.layout)
        deadline = time.monotonic() + limit
        state = ""
        while time.monotonic() < deadline:
            if not _alive(self.pids[host]):
                raise RuntimeError(f"{host}: PID 1 exited: {self._log_tail(host)}"
                                   f"{_inotify_hint()}")
            try:
                state = self.exec(host, ["systemctl", "is-system-running"],
                                  timeout=10).stdout.strip()
            except subprocess.TimeoutExpired:
                state = "(no answer within 10s)"
            if state in ("running", "degraded"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{host}: not ready after {limit:g}s ({state}): "
                           f"{self._log_tail(host)}")

    def _stage_after_boot(self) -> None:
        for spec in self.layout:
            for u in spec.units:
                unit = f"circus_{u.user}_{spec.name}.service"
                if u.enabled and not u.started:
                    self.exec(spec.name, ["systemctl", "stop", unit])
                elif u.started and not u.enabled:
                    self.exec(spec.name, ["systemctl", "start", unit])
                if u.config == "broken":  # edited after circusd read it
                    self._wait_answering(spec.name, u.user)
                    ini = self.homes / u.user / "circus" / spec.name / "circus.ini"
                    ini.write_text("[circus]\nendpoint = tcp://127.0.0.1:5555\n"
                                   "a line that is not ini\n")

    def _wait_answering(self, host: str, user: str) -> None:
        """Until ``user``'s circusd answers: it has read its ini by then.

        systemd says ``active`` as soon as it forked circusd, a second
        before circusd reads its ini, so is-active is not enough.
        """
        argv = [str(self.venv / "bin" / "circusctl"), "--endpoint",
                f"tcp://127.0.0.1:{self.port(user)}", "--timeout", "1", "status"]
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self.exec(host, argv, user=user).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{host}: circusd of {user} never answered")

    def _log_tail(self, host: str) -> str:
        log = self._hostdir(host) / "boot.log"
        return log.read_text()[-800:] if log.exists() else "(no log)"

    def _cgroup_procs(self) -> list[int]:
        pids: set[int] = set()
        for root in CGROUP_ROOTS:
            top = root / self.name
            # os.walk, not rglob: a host's systemd removes cgroups while we look
            for folder, _, files in os.walk(top):
                if "cgroup.procs" in files:
                    with contextlib.suppress(OSError):
                        procs = Path(folder, "cgroup.procs").read_text()
                        pids.update(int(p) for p in procs.split())
        return sorted(pids)


def _inotify_hint() -> str:
    """Why a host's systemd may die before it logs a word: each one needs a few inotify
    instances and every fleet's hosts (all root) share fs.inotify.max_user_instances."""
    limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    used = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            used += sum(1 for fd in fd_dir.iterdir() if os.readlink(fd) == "anon_inode:inotify")
    if used < 0.8 * limit:
        return ""
    return (f" (inotify instances in use: {used} of fs.inotify.max_user_instances={limit}:"
            " other fleets running? take them down or raise the limit)")


def _identity(pid: int) -> list[int] | None:
    """``[pid, start time]``: a pid that was reused since is another process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return [pid, int(stat.rsplit(")", 1)[1].split()[19])]  # field 22: starttime


def _running(owner: list[int] | None) -> bool:
    """Whether the process that booted a fleet still runs (and is not this one)."""
    if not owner or owner[0] == os.getpid():
        return False
    return _identity(owner[0]) == list(owner)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _without(text: str, names: set[str], ids: set[str], id_field: int | None) -> str:
    """The lines of a passwd-like file whose name and id are not the fleet's."""
    kept = []
    for line in text.splitlines():
        f = line.split(":")
        if f[0] in names or (id_field is not None and len(f) > id_field and f[id_field] in ids):
            continue
        kept.append(line + "\n")
    return "".join(kept)


def _links() -> list[str]:
    out = _run(["ip", "-o", "link"]).stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]


def _keygen(path: Path) -> None:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "barnum-fleet", "-f", str(path)])
