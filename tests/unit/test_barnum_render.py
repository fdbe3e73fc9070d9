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


def _each_printed(lines, console) -> None:
    for line in lines:
        console.print(line)


def test_one_print_of_the_lines_writes_what_a_print_of_each_would():
    """print_lines renders the lines at once, skipping rich's wrapping (a no-op with soft
    wrap): it must write the same bytes as rich printing them one by one, in colour and
    not, wide and narrow, with a tab (rich expands it) and on a console without soft wrap."""
    from rich.console import Console
    from rich.text import Text

    from barnum.views.render import host_lines, print_lines, summary_line

    result = _result()
    lines = [line for h in result.hosts for line in [*host_lines(h), Text()]]
    lines += [summary_line(result), Text("a\tb", style="dim"), Text("x" * 200, style="red")]
    consoles = [
        lambda buf, width: make_console(buf, color=True),
        lambda buf, width: make_console(buf, color=False),
        lambda buf, width: Console(file=buf, force_terminal=True, width=width, soft_wrap=True),
        lambda buf, width: Console(file=buf, force_terminal=True, width=width),  # wraps
    ]
    for make in consoles:
        for width in (20, 80):
            for chosen in (lines, lines[:-2], [Text("only", style="bold")], [Text()]):
                one, each = io.StringIO(), io.StringIO()
                print_lines(make(one, width), chosen)
                _each_printed(chosen, make(each, width))
                assert one.getvalue() == each.getvalue()
