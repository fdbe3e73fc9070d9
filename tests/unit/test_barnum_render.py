import io
import json
import re

from bailey.report import Instance, Report
from barnum.model.results import FleetResult, HostResult, error_lines, interpret
from barnum.views.render import make_console, render

ANSI = re.compile(r"\x1b\[")


def _result():
    rep = Report(host="host1", bailey_version="0.1.0", circusctl_args=["status"])
    rep.instances += [
        Instance("circus_u1_host1.service", "u1", "User=", "enabled", "active", "running",
                 state="ok", watchers={"web": "active", "[red]evil": "stopped"}),
        Instance("circus_u2_host1.service", "u2", "User=", "disabled", "inactive", "dead",
                 state="inactive"),
        Instance("circus_u3_host1.service", "u3", "User=", "enabled", "active", "running",
                 state="error", error="circusctl timed out after 5s"),
    ]
    h1 = HostResult("host1", [], ["bailey", "--json"], stdout=json.dumps(rep.to_dict()),
                    exit_status=1)
    interpret(h1)
    h2 = HostResult("host2", [], [], error="cannot connect to 10.0.0.3:22: connection refused")
    h3 = HostResult("host3", [], [], stdout="usage: bailey [options]\n", exit_status=0)
    return FleetResult([h1, h2, h3])


def _render(**kw) -> str:
    buf = io.StringIO()
    render(_result(), make_console(buf, **kw), make_console(buf, **kw))
    return buf.getvalue()


def test_errors_go_to_the_error_console_only():
    out, err = io.StringIO(), io.StringIO()
    render(_result(), make_console(out, color=False), make_console(err, color=False))
    lines = err.getvalue().splitlines()
    assert "barnum: host2: cannot connect to 10.0.0.3:22: connection refused" in lines
    assert lines == [f"barnum: {line}" for line in error_lines(_result())]


def test_piped_output_has_no_escape_codes(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    out = _render()
    assert not ANSI.search(out)
    assert "circus_u1_host1.service  enabled   active (running)" in out
    assert "      web: active" in out
    assert "[red]evil: stopped" in out  # host text is never markup
    assert "No circus expected" in out
    assert "circusctl timed out after 5s" in out
    assert "usage: bailey [options]" in out
    assert "3 hosts: 2 ok, 1 failed; 3 instances: 2 ok, 1 failed" in out
    assert "host2: cannot connect to 10.0.0.3:22: connection refused" in out


def test_terminal_gets_colour_but_not_with_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert ANSI.search(_render(color=True))
    monkeypatch.setenv("NO_COLOR", "1")
    out = _render(color=True)
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", out)  # no foreground colours


def test_error_lines_one_per_problem():
    assert error_lines(_result()) == [
        "host1: circus_u3_host1.service: circusctl timed out after 5s",
        "host2: cannot connect to 10.0.0.3:22: connection refused",
    ]
