"""bailey --serve's kept helpers (bailey.opener): a real process per set of ids that
opens files as the circus user, kept across reads, replaced when it dies, and gone
when bailey lets go of it.  Root only: only root can start a process as another uid.
The readability rules themselves are tested for every way in
test_bailey_safefile_reach.py."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bailey import opener, safefile
from bailey.safefile import Reader, UnsafeFile, read_text
from tests.waiting import until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="starts processes as another uid")

USER = Reader(uid=4242, gids=frozenset({4242, 4343}), gid=4242)
OTHER = Reader(uid=4244, gids=frozenset({4244}), gid=4244)


@pytest.fixture
def helpers():
    with opener.kept() as h:
        yield h


@pytest.fixture
def files(reachable_tmp):
    """ok.ini (0644), mine.ini (0600, the user's own), group.ini (0640, group 4343)."""
    (reachable_tmp / "ok.ini").write_text("[circus]\n")
    mine = reachable_tmp / "mine.ini"
    mine.write_text("mine\n")
    mine.chmod(0o600)
    os.chown(mine, 4242, 4242)
    group = reachable_tmp / "group.ini"
    group.write_text("group\n")
    group.chmod(0o640)
    os.chown(group, 0, 4343)
    return reachable_tmp


def _ids(pid: int) -> tuple[str, str, str]:
    """(real uid, real gid, supplementary groups) of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines())
    return (fields["Uid"].split()[0], fields["Gid"].split()[0],
            " ".join(sorted(fields["Groups"].split())))


def test_one_helper_with_the_users_ids_answers_every_read(helpers, files):
    assert read_text(str(files / "ok.ini"), USER) == "[circus]\n"
    (pid,) = helpers.pids()
    assert _ids(pid) == ("4242", "4242", "4242 4343")
    assert opener.MARK in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    assert read_text(str(files / "mine.ini"), USER) == "mine\n"  # owner's bits
    assert read_text(str(files / "group.ini"), USER) == "group\n"  # a supplementary group
    assert helpers.pids() == [pid]  # the same helper, kept
    with pytest.raises(UnsafeFile, match="not readable by the circus user uid 4244"):
        read_text(str(files / "mine.ini"), OTHER)
    assert len(helpers) == 2  # another set of ids: another helper


def test_a_helper_that_died_is_replaced(helpers, files):
    assert read_text(str(files / "ok.ini"), USER) == "[circus]\n"
    (pid,) = helpers.pids()
    os.kill(pid, signal.SIGKILL)
    assert until(lambda: _gone(pid), 10)
    assert read_text(str(files / "ok.ini"), USER) == "[circus]\n"
    (again,) = helpers.pids()
    assert again != pid


def test_a_helper_that_hangs_is_given_up_and_the_read_still_answers(helpers, files,
                                                                      monkeypatch):
    """SIGSTOPped (as a hung file system would leave it): after the child timeout the
    helper is killed and the walk answers, as for a forked child."""
    monkeypatch.setattr(safefile, "CHILD_TIMEOUT", 0.5)
    assert read_text(str(files / "ok.ini"), USER) == "[circus]\n"
    (pid,) = helpers.pids()
    os.kill(pid, signal.SIGSTOP)
    try:
        assert read_text(str(files / "ok.ini"), USER) == "[circus]\n"
        assert until(lambda: _gone(pid), 10)
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_closing_leaves_no_helper_and_one_ends_when_its_socket_closes(files):
    with opener.kept() as h:
        read_text(str(files / "ok.ini"), USER)
        read_text(str(files / "ok.ini"), OTHER)
        pids = h.pids()
        assert len(pids) == 2
        assert safefile.use_helpers(h) is h  # in use inside
    assert safefile.use_helpers(None) is None  # put back as it was
    assert all(_gone(p) for p in pids)  # closed: each read end of file and left


def _gone(pid: int) -> bool:
    """The process is gone or a zombie (it has left; its parent reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_a_name_the_kernel_cannot_take_is_an_answer_not_the_helpers_end(helpers, files):
    """Asked directly (safefile refuses a NUL before asking), the helper answers EINVAL
    and stays: a user's odd name never costs a new helper per request."""
    assert read_text(str(files / "ok.ini"), USER) == "[circus]\n"
    (pid,) = helpers.pids()
    with pytest.raises(UnsafeFile, match="Invalid argument"):
        helpers.open(f"{files}/ok.ini\0x", USER)
    assert read_text(str(files / "ok.ini"), USER) == "[circus]\n"
    assert helpers.pids() == [pid]


def test_an_interpreter_this_user_cannot_run_is_passed_over(helpers, files, tmp_path,
                                                            monkeypatch):
    """The interpreter that last started is tried first, not only: one in a folder this
    user cannot search (root's 0700 tmp_path here) gives way to the next."""
    private = tmp_path / "root-only"
    private.mkdir(mode=0o700)
    unreachable = private / "python3"
    unreachable.write_bytes(Path(os.path.realpath(opener.sys.executable)).read_bytes())
    unreachable.chmod(0o755)
    monkeypatch.setattr(opener, "_python", [str(unreachable)])
    assert read_text(str(files / "ok.ini"), USER) == "[circus]\n"
    (pid,) = helpers.pids()  # a kept helper, not a forked child per file
    assert os.path.realpath(f"/proc/{pid}/exe") != str(unreachable)
    assert opener._python and opener._python[0] != str(unreachable)
