import pytest

from barnum.model.config import ConfigError, find_config, is_valid_user, load_config, parse_config


def test_list_form():
    c = parse_config("- user1\n- user2\n- user1\n")
    assert c.users == ["user1", "user2"]
    assert c.timeout is None and c.config_template is None


def test_mapping_form():
    c = parse_config(
        "users: [a, b]\nconfig_template: /users/{user}/circus/{host}/circus.ini\n"
        "ssh_config: ~/fleet\nbailey: /opt/bin/bailey\ntimeout: 2.5\nfanout: 4\n"
    )
    assert c.users == ["a", "b"]
    assert c.config_template == "/users/{user}/circus/{host}/circus.ini"
    assert c.ssh_config.endswith("/fleet") and not c.ssh_config.startswith("~")
    assert (c.bailey, c.timeout, c.fanout) == ("/opt/bin/bailey", 2.5, 4)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("", "f.yaml: empty users file"),
        ("users: [a\n", "f.yaml:2: invalid YAML"),
        ("- a\n- : b\n  c\n", "f.yaml:"),
        ("42\n", "expected a list of user names or a mapping"),
        ("users: alice\n", "f.yaml:1: 'users' must be a list"),
        ("users: []\n", "f.yaml:1: no users listed"),
        ("- ok\n- Bad User\n", "f.yaml:2: invalid user name 'Bad User'"),
        ("- ok\n- 42\n", "f.yaml:2: invalid user name 42"),
        ("users: [a]\ntimout: 3\n", "f.yaml:2: unknown key 'timout' (did you mean 'timeout'?)"),
        ("users: [a]\ntimeout: -1\n", "f.yaml:2: 'timeout' must be a number of seconds in"),
        ("users: [a]\ntimeout: yes\n", "'timeout' must be a number of seconds"),
        ("users: [a]\ntimeout: .inf\n", "f.yaml:2: 'timeout' must be a number of seconds"),
        ("users: [a]\ntimeout: .nan\n", "f.yaml:2: 'timeout' must be a number of seconds"),
        ("users: [a]\ntimeout: 1e10\n", "f.yaml:2: 'timeout' must be a number of seconds"),
        ("users: [a]\nfanout: 2.5\n", "f.yaml:2: 'fanout' must be an integer from 1 to"),
        ("users: [a]\nmax_output: 0\n", "f.yaml:2: 'max_output' must be an integer"),
        ("users: [a]\nhosts: host1\n", "f.yaml:2: 'hosts' must be a list of host name"),
        ("users: [a]\nlocal: 1\n", "f.yaml:2: 'local' must be true or false"),
        ("x: &a [b]\nusers: *a\n", "f.yaml: line 2: YAML aliases (*name) are not allowed"),
        ("users: [a]\nbailey: [x]\n", "f.yaml:2: 'bailey' must be a non-empty string"),
        ("users: [a]\nconfig_template: /x/{user}\n", "must contain {host}"),
        ("users: [a]\nconfig_template: /x/{who}/{host}\n", "may only use"),
        ("timeout: 3\n", "no 'users' list"),
    ],
)
def test_errors_are_one_line_naming_the_file(text, expect):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "f.yaml")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("f.yaml")
    assert expect in msg
    assert e.value.exit_code == 2


def test_yaml_error_line_number():
    with pytest.raises(ConfigError, match=r"^f.yaml:3: invalid YAML"):
        parse_config("- a\n- b\n  c: d\n", "f.yaml")
    with pytest.raises(ConfigError, match=r"^f.yaml:4: .*flow sequence started on line 3"):
        parse_config("- a\n- b\n- [c\n", "f.yaml")


def test_load_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_lookup_order(tmp_path):
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    (home / ".config" / "barnum").mkdir(parents=True)
    cwd.mkdir()
    in_home = home / ".config" / "barnum" / "circus_users.yaml"
    in_home.write_text("- a\n")
    assert find_config(None, {}, cwd, home) == in_home
    (cwd / "circus_users.yaml").write_text("- a\n")
    assert find_config(None, {}, cwd, home) == cwd / "circus_users.yaml"
    assert find_config(None, {"BARNUM_CONFIG": "/e.yaml"}, cwd, home).as_posix() == "/e.yaml"
    assert find_config("/x.yaml", {"BARNUM_CONFIG": "/e.yaml"}, cwd, home).as_posix() == "/x.yaml"


def test_lookup_nothing(tmp_path):
    with pytest.raises(ConfigError, match="no users file"):
        find_config(None, {}, tmp_path, tmp_path)


@pytest.mark.parametrize("name", ["alice", "_svc", "user.name-2", "a_b"])
def test_valid_users(name):
    assert is_valid_user(name)


@pytest.mark.parametrize("name", ["", "Alice", "-x", "a b", "a;b", "$(x)", "1abc", "a" * 33, None])
def test_invalid_users(name):
    assert not is_valid_user(name)
