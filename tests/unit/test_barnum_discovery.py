import pytest

from barnum.model.discovery import discover, is_valid_host

HOSTILE = ["-oProxyCommand=touch x", "a;b", "$(x)", "`id`", "a b", "h|x", "a&b", "-", "x..y",
           "*", "host>1", "ünï"]


def _tree(root, user, hosts):
    for h in hosts:
        d = root / user / "circus" / h
        d.mkdir(parents=True)
        (d / "circus.ini").write_text("[circus]\n")


def test_home_layout(tmp_path):
    _tree(tmp_path, "u1", ["host1", "host2"])
    _tree(tmp_path, "u2", ["host2", "web-3.example.org"])
    (tmp_path / "u2" / "circus" / "empty").mkdir()  # no circus.ini: not a host
    homes = {"u1": str(tmp_path / "u1"), "u2": str(tmp_path / "u2")}
    d = discover(["u1", "u2"], home_of=homes.get)
    assert d.hosts == {"host1": ["u1"], "host2": ["u1", "u2"], "web-3.example.org": ["u2"]}
    assert d.warnings == []
    assert d.configs[("u1", "host1")].endswith("u1/circus/host1/circus.ini")


def test_hostile_names_skipped_with_warning(tmp_path):
    _tree(tmp_path, "u1", ["good", *HOSTILE])
    d = discover(["u1"], home_of=lambda u: str(tmp_path / u))
    assert d.hosts == {"good": ["u1"]}
    assert len(d.warnings) == len(HOSTILE)
    for w in d.warnings:
        assert "\n" not in w and "not a valid host name" in w


def test_unknown_user_and_missing_home(tmp_path):
    d = discover(["ghost", "gone"], home_of={"gone": str(tmp_path / "nope")}.get)
    assert d.hosts == {}
    assert any("ghost" in w and "unknown user" in w for w in d.warnings)
    assert any("gone" in w and "does not exist" in w for w in d.warnings)


def test_template(tmp_path):
    _tree(tmp_path, "u1", ["h1"])
    _tree(tmp_path, "u2", ["h1", "h2", "a;b"])
    tpl = str(tmp_path) + "/{user}/circus/{host}/circus.ini"
    d = discover(["u1", "u2", "u3"], config_template=tpl, home_of=lambda u: None)
    assert d.hosts == {"h1": ["u1", "u2"], "h2": ["u2"]}
    assert any("u3" in w for w in d.warnings)
    assert any("'a;b'" in w for w in d.warnings)


def test_template_with_glob_characters_in_path(tmp_path):
    base = tmp_path / "we[ir]d*"
    _tree(base, "u1", ["h1"])
    tpl = str(base) + "/{user}/circus/{host}/circus.ini"
    assert discover(["u1"], config_template=tpl).hosts == {"h1": ["u1"]}


def test_real_pwd_root_has_no_crash():
    discover(["root"])  # real pwd lookup; may or may not find anything


@pytest.mark.parametrize("name", ["host1", "a", "web-3.example.org", "10.0.0.3", "H1"])
def test_valid_hosts(name):
    assert is_valid_host(name)


@pytest.mark.parametrize("name", [*HOSTILE, "", "a-", ".a", "a.", "a" * 64])
def test_invalid_hosts(name):
    assert not is_valid_host(name)
