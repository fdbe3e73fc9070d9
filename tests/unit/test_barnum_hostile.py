"""Hostile answers from hosts and hostile files: barnum never raises, prints every host,
and writes no control character to the operator's terminal (issue: hostile input).

Property tests (hypothesis) over what a compromised host could print in bailey's
place, and over users files; plus the proof that the renderers refuse strings that
did not pass the sanitizer.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bailey.report import Instance, Report
from barnum.model.config import ConfigError, parse_config
from barnum.model.hostsort import natural_sorted
from barnum.model.results import FleetResult, HostResult, error_lines, interpret
from barnum.model.validate import DocumentError, report_from_document
from barnum.text.sanitize import clean
from barnum.transport.allow import allow, named_by_ssh_config, ssh_config_host_patterns
from barnum.views.render import host_lines, make_console, render

# What may reach a terminal: printable text and the newlines barnum itself writes.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069]")
NASTY = ["\x1b]0;pwned\x07", "\x1b[2J", "\x1b]52;c;ZXZpbA==\x07", "\r\nhost99  active",
         "\x9b31m", "\ud800", "\u202e", "\n\nbarnum: host9: all fine", "[red]x[/red]"]
text = st.one_of(st.text(), st.sampled_from(NASTY), st.text(alphabet="\x1b\x07\n\r[]ab"))
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


def _valid_doc(host: str = "host1", **over) -> dict:
    rep = Report(host=host, bailey_version="0.1.0", circusctl_args=["status"])
    rep.instances.append(Instance(f"circus_u_{host}.service", "u", "User=", "enabled", "active",
                                  "running", state="ok", watchers={"web": "active"}))
    doc = rep.to_dict()
    doc["instances"][0].update(over)
    return doc


def _render_all(hosts: list[HostResult]) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    result = FleetResult(hosts)
    render(result, make_console(out, color=False), make_console(err, color=False))
    json.dumps(result.to_dict())  # --json: always a complete document
    return out.getvalue(), err.getvalue()


def _hosts_from(stdouts: list[str]) -> list[HostResult]:
    hosts = []
    for n, stdout in enumerate(stdouts):
        h = HostResult(f"host{n + 1}", [], ["bailey", "--json"], stdout=stdout, exit_status=1)
        interpret(h)
        hosts.append(h)
    return hosts


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(json_value, min_size=1, max_size=3))
def test_any_json_in_place_of_baileys_answer(values):
    hosts = _hosts_from([json.dumps(v) for v in values])
    out, err = _render_all(hosts)
    assert not CONTROL.search(out + err)
    for h in hosts:
        assert h.host in out
    assert f"{len(hosts)} host{'s' * (len(hosts) != 1)}:" in out


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(name=text, status=text, error=text, stdout=text, notes=st.lists(text, max_size=3))
def test_any_strings_in_a_valid_document(name, status, error, stdout, notes):
    doc = _valid_doc(watchers={name: status}, error=error, stdout=stdout, notes=notes)
    hosts = _hosts_from([json.dumps(doc), json.dumps(_valid_doc("host2"))])
    assert hosts[0].report is not None  # strings are shown, not refused
    out, err = _render_all(hosts)
    assert not CONTROL.search(out + err)
    assert clean(name) in out
    assert "host2" in out and "web: active" in out
    for line in error_lines(FleetResult(hosts)):
        assert "\n" not in line


@pytest.mark.parametrize(("over", "fault"), [
    ({"state": ["ok"]}, "instances[0].state is a list, not a string"),
    ({"unit": 123}, "instances[0].unit is a number, not a string"),
    ({"watchers": ["a"]}, "instances[0].watchers is a list, not an object of strings or null"),
    ({"watchers": {"a": 1}}, "instances[0].watchers is not a mapping of strings to strings"),
    ({"main_pid": True}, "instances[0].main_pid is a boolean, not a number"),
    ({"argv": "ls"}, "instances[0].argv is a string, not a list of strings"),
])
def test_mistyped_document_is_one_line_for_that_host_only(over, fault):
    hosts = _hosts_from([json.dumps(_valid_doc(**over)), json.dumps(_valid_doc("host2"))])
    assert hosts[0].error == f"bailey printed an invalid document: {fault}"
    assert hosts[1].error is None and hosts[1].report is not None
    out, err = _render_all(hosts)
    assert "host2" in out and "web: active" in out
    assert f"barnum: host1: bailey printed an invalid document: {fault}" in err.splitlines()


def test_missing_fields_and_wrong_schema():
    doc = _valid_doc()
    del doc["instances"][0]["unit"]
    with pytest.raises(DocumentError, match=r"instances\[0\] has no unit"):
        report_from_document(doc)
    with pytest.raises(DocumentError, match="schema: 'x'"):
        report_from_document({"schema": "x"})
    with pytest.raises(DocumentError, match="a JSON list"):
        report_from_document([])


def test_lone_surrogate_in_a_watcher_name_is_shown_not_fatal():
    doc = json.dumps(_valid_doc(watchers={"a\ud800b": "active"}))
    (h,) = _hosts_from([doc])
    out, _ = _render_all([h])
    assert "a\\ud800b: active" in out


def test_renderers_refuse_unsanitized_strings():
    """The sanitizer is the only path: a report built around it does not render."""
    rep = Report(host="h", bailey_version="0", circusctl_args=[])
    rep.instances.append(Instance("\x1b]0;x\x07", "u", "User=", "enabled", "active", "running",
                                  state="ok", watchers={}))
    h = HostResult("host1", [], [], report=rep)
    with pytest.raises(TypeError, match="unsanitized"):
        host_lines(h)


def test_host_errors_are_stored_clean():
    h = HostResult("host1", [], [], error="bad\n\x1b[2Jthing")
    assert h.error == "bad\\n\\e[2Jthing"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_users_file_is_a_config_error_or_a_config(body):
    try:
        cfg = parse_config(body, "f.yaml")
    except ConfigError as e:
        assert "\n" not in str(e)
        assert str(e).startswith("f.yaml")
    else:
        assert cfg.users


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["users", "hosts", "timeout", "fanout", "local", "max_output",
                                 "config_template"]), min_size=1, unique=True),
       st.lists(json_value, min_size=7, max_size=7))
def test_any_values_in_a_users_mapping(keys, values):
    import yaml

    doc = {"users": ["u1"], **dict(zip(keys, values, strict=False))}
    try:
        parse_config(yaml.safe_dump(doc), "f.yaml")
    except ConfigError as e:
        assert "\n" not in str(e)


def test_allow_rule_users_file_patterns_then_ssh_config():
    found = {"host1": ["u"], "10.0.0.9": ["u"], "localhost": ["u"], "web2": ["u"]}
    a = allow(found, ["host*", "web[1-3]"], None)
    assert sorted(a.hosts) == ["host1", "web2"]
    assert sorted(a.skipped) == ["10.0.0.9", "localhost"]
    cfg = "Host *\n  User x\nHost host1 web* !web2\n  HostName 1.2.3.4\n"
    a = allow(found, None, cfg)
    assert sorted(a.hosts) == ["host1"]  # Host * names nothing; !web2 excludes it
    assert allow(found, None, None).hosts == {}


def test_ssh_config_host_lines():
    lines = ssh_config_host_patterns('host a b\n  HostName x\nHost="c"\nHost d # e\n')
    assert lines == [["a", "b"], ["c"], ["d"]]
    assert named_by_ssh_config("a", lines) and not named_by_ssh_config("e", lines)


def test_hosts_sort_naturally():
    assert natural_sorted(["host10", "host2", "host1", "db"]) == ["db", "host1", "host2",
                                                                  "host10"]


# -- names a host reports must name an instance of that host (issue 18, section 1) ---------

INJECTIONS = ["user1@host1,user1", "user1@host1", "*", "@itg", "u,!host2", "-x", "u&host3",
              "U", "", "a" * 33, "u\x1b[2J", "u\nhost1", "1u", "u:w", "u/../v", "u@"]


@pytest.mark.parametrize("user", INJECTIONS)
def test_a_user_that_is_not_a_user_name_is_refused_for_that_instance_only(user):
    doc = _valid_doc("host3", user=user, unit=f"circus_{user}_host3.service")
    doc["instances"].append(_valid_doc("host3", user="u2", unit="circus_u2_host3.service")
                            ["instances"][0])
    (h, other) = _hosts_from([json.dumps(doc), json.dumps(_valid_doc("host2"))])
    h.host = "host3"
    interpret(h)
    assert h.error is None and [i.user for i in h.report.instances] == ["u2"]
    (note,) = h.report.errors
    assert note.startswith("instance refused: ") and "not a valid user name" in note
    assert "\n" not in note and not CONTROL.search(note)
    assert other.report.instances[0].user == "u"  # the other host is untouched
    out, _ = _render_all([h, other])
    assert "instance refused" in out and "host2" in out and "web: active" in out


@pytest.mark.parametrize("unit", ["circus_u_host1.service", "circus_u_host3.service.x",
                                  "circus_v_host3.service", "circus_u_host3.socket",
                                  "circus_u_host3", "x.service", "circus_u_host1,host3.service"])
def test_a_unit_not_named_for_that_user_and_host_is_refused(unit):
    rep = report_from_document(_valid_doc("host3", unit=unit), "host3")
    assert rep.instances == [] and rep.errors[0].startswith("instance refused: unit ")
    assert rep.exit == 3  # nothing left on the host: a host-level failure


def test_the_host_is_the_connections_not_the_documents():
    doc = _valid_doc("host1")  # claims to be host1, arrives over host3's connection
    assert report_from_document(doc, "host1").instances
    assert report_from_document(doc, "host3").instances == []
    fq = _valid_doc("host3", unit="circus_u_host3.service")
    assert report_from_document(fq, "host3.lab.example").instances  # bailey's short name


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(user=st.one_of(text, st.sampled_from(INJECTIONS)), unit=text)
def test_any_user_and_unit_is_either_exact_or_refused(user, unit):
    from barnum.model.config import is_valid_user

    rep = report_from_document(_valid_doc("host3", user=user, unit=unit), "host3")
    if rep.instances:
        (i,) = rep.instances
        assert is_valid_user(i.user) and i.unit == f"circus_{i.user}_host3.service"
    else:
        assert len(rep.errors) == 1 and not CONTROL.search(rep.errors[0])
