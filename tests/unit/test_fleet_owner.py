"""A fleet's name is taken while the process that booted it runs: up() refuses it
rather than take down hosts another run still uses; a crash's leftover is removed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from tests.fleet.fleet import ROOT, Fleet, _identity, _running


def test_a_fleet_is_owned_by_a_live_process_only():
    child = subprocess.Popen(["sleep", "30"])
    try:
        owner = _identity(child.pid)
        assert _running(owner)
        assert not _running([child.pid, owner[1] + 1])  # the pid reused by another process
    finally:
        child.kill()
        child.wait()
    assert not _running(owner)
    assert not _running(_identity(os.getpid()))  # our own fleet is ours to replace
    assert not _running(None)


@pytest.mark.skipif(not os.access(ROOT.parent, os.W_OK), reason="needs root (/opt)")
def test_up_refuses_a_name_a_live_run_holds_and_leaves_its_state():
    name = "o" + uuid.uuid4().hex[:6]
    state = ROOT / name
    child = subprocess.Popen(["sleep", "30"])
    try:
        state.mkdir(parents=True)
        doc = {"subnet": 250, "pids": {}, "owner": _identity(child.pid), "layout": []}
        (state / "fleet.json").write_text(json.dumps(doc))
        with pytest.raises(RuntimeError, match=f"in use by pid {child.pid}"):
            Fleet(name, []).up()
        assert (state / "fleet.json").exists()  # nothing of the live run was touched
    finally:
        child.kill()
        child.wait()
        shutil.rmtree(state, ignore_errors=True)
