"""bailey reuses a user's group list for a bounded time, and never past a group change."""

from __future__ import annotations

import os
import pwd

import pytest

from bailey import safefile
from bailey.safefile import Reader

ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """Calls of getgrouplist, with GROUP_FILE a file of the test's own."""
    group_file = tmp_path / "group"
    group_file.write_text("g:x:1:\n")
    monkeypatch.setattr(safefile, "GROUP_FILE", str(group_file))
    monkeypatch.setattr(safefile, "_GROUPS", {})
    calls: list[str] = []
    real = os.getgrouplist

    def getgrouplist(user: str, gid: int) -> list[int]:
        calls.append(user)
        return real(user, gid)

    monkeypatch.setattr(os, "getgrouplist", getgrouplist)
    return calls, group_file


def test_the_list_is_asked_once_and_reused(counted):
    calls, _ = counted
    first, again = Reader.for_user(ME), Reader.for_user(ME)
    assert calls == [ME]
    assert again == first
    assert first.gids == frozenset({first.gid, *os.getgrouplist(ME, first.gid)})


def test_a_change_of_the_group_file_asks_again(counted):
    calls, group_file = counted
    Reader.for_user(ME)
    group_file.write_text("g:x:1:\nh:x:2:" + ME + "\n")
    Reader.for_user(ME)
    assert calls == [ME, ME]


def test_an_old_list_is_asked_again(counted, monkeypatch):
    calls, _ = counted
    Reader.for_user(ME)
    monkeypatch.setattr(safefile, "GROUPS_TTL", 0.0)
    Reader.for_user(ME)
    assert calls == [ME, ME]


def test_without_a_group_file_the_list_is_still_asked_and_kept(counted, monkeypatch):
    calls, group_file = counted
    group_file.unlink()
    Reader.for_user(ME)
    Reader.for_user(ME)
    assert calls == [ME]
