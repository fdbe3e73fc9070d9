"""Which files circus writes a watcher's stdout/stderr to: bailey against circus itself.

The oracle is circus 0.19.0's own code path: ``circus.config.get_config`` (the
watcher's ``stdout_stream``/``stderr_stream`` dicts, ``$(circus.env.X)`` and
``[env:PATTERN]`` substituted) then ``circus.stream.get_stream`` (which opens
the file, as circusd does, from circusd's working directory).  bailey must
name the same absolute files from the same text, without opening anything.
"""

from __future__ import annotations

import os
import warnings

import pytest

from bailey.circusini import read_circus_ini, resolve_stream_file

circus_config = pytest.importorskip("circus.config")
circus_stream = pytest.importorskip("circus.stream")

HEAD = "[circus]\nendpoint = tcp://127.0.0.1:6001\n"
CASES = [
    ("file-stream-absolute", """
[watcher:web]
cmd = sleep 100
stdout_stream.class = FileStream
stdout_stream.filename = {abs}/web.out
stderr_stream.class = FileStream
stderr_stream.filename = {abs}/web.err
"""),
    ("relative-to-circusd-cwd", """
[watcher:job]
cmd = sleep 100
stdout_stream.class = FileStream
stdout_stream.filename = logs/job.log
stdout_stream.max_bytes = 1000
stdout_stream.backup_count = 2
"""),
    ("timed-and-watched", """
[watcher:a]
cmd = sleep 100
stdout_stream.class = TimedRotatingFileStream
stdout_stream.filename = a.out
stdout_stream.rotate_when = H
stderr_stream.class = WatchedFileStream
stderr_stream.filename = a.err
"""),
    ("dotted-class", """
[watcher:b]
cmd = sleep 100
stdout_stream.class = circus.stream.FileStream
stdout_stream.filename = b.out
stderr_stream.class = circus.stream.file_stream.WatchedFileStream
stderr_stream.filename = b.err
"""),
    ("filename-without-class-is-a-file-stream", """
[watcher:c]
cmd = sleep 100
stdout_stream.filename = c.out
"""),
    ("stdout-stream-class-writes-no-file", """
[watcher:d]
cmd = sleep 100
stdout_stream.class = StdoutStream
stderr_stream.class = FileStream
stderr_stream.filename = d.err
"""),
    ("env-substituted", """
[env]
LOGDIR = {abs}/from-env
[watcher:e]
cmd = sleep 100
stdout_stream.class = FileStream
stdout_stream.filename = $(circus.env.LOGDIR)/e.out
"""),
    ("env-pattern-section-last-wins", """
[env:f*]
NAME = first
[env:fo*]
NAME = second
[watcher:foo]
cmd = sleep 100
stdout_stream.class = FileStream
stdout_stream.filename = $(circus.env.NAME).out
[watcher:bar]
cmd = sleep 100
stdout_stream.class = FileStream
stdout_stream.filename = $(circus.env.NAME).out
"""),
    ("no-streams", """
[watcher:g]
cmd = sleep 100
"""),
    ("first-duplicate-wins", """
[watcher:h]
cmd = sleep 100
stdout_stream.class = FileStream
stdout_stream.filename = one.out
stdout_stream.filename = two.out
"""),
]


def _oracle(path, cwd) -> dict[str, str]:
    """What circusd opens: get_config, then get_stream run in circusd's working dir."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conf = circus_config.get_config(str(path))
    out = {}
    old = os.getcwd()
    os.chdir(cwd)
    try:
        for w in conf["watchers"]:
            for stream in ("stdout", "stderr"):
                sconf = dict(w[f"{stream}_stream"])
                if not sconf:
                    continue
                inst = circus_stream.get_stream(sconf)
                name = getattr(inst, "_filename", None)
                if name:
                    inst.close()
                    out[f"{stream}:{w['name']}"] = os.path.abspath(name)
    finally:
        os.chdir(old)
    return out


@pytest.mark.parametrize("text", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_same_files_as_circus(tmp_path, text):
    cwd = tmp_path / "cwd"
    (cwd / "logs").mkdir(parents=True)
    (tmp_path / "from-env").mkdir()
    path = tmp_path / "circus.ini"
    path.write_text(HEAD + text.replace("{abs}", str(tmp_path)))
    ini = read_circus_ini(str(path), environ={})
    got = {k: resolve_stream_file(v, str(cwd)) for k, v in ini.stream_files.items()}
    assert got == _oracle(path, cwd)


def test_env_pattern_case_gives_each_watcher_its_own(tmp_path):
    path = tmp_path / "circus.ini"
    path.write_text(HEAD + dict(CASES)["env-pattern-section-last-wins"])
    files = read_circus_ini(str(path), environ={}).stream_files
    assert files == {"stdout:foo": "second.out", "stdout:bar": "$(circus.env.NAME).out"}


def test_relative_name_resolves_in_slash_without_a_working_directory():
    assert resolve_stream_file("x/../y.log", "") == "/y.log"
    assert resolve_stream_file("/abs/z.log", "/srv") == "/abs/z.log"
