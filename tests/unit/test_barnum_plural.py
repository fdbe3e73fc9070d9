from barnum.text.plural import count, plural


def test_one_is_singular_every_other_count_is_plural():
    assert count(1, "host") == "1 host"
    assert count(0, "host") == "0 hosts"
    assert count(2, "instance") == "2 instances"
    assert count(-1, "watcher") == "-1 watchers"
    assert count(12, "unit") == "12 units"


def test_irregular_plurals():
    assert count(1, "process") == "1 process"
    assert count(3, "process") == "3 processes"
    assert plural(2, "is") == "are" and plural(1, "is") == "is"


def test_the_front_ends_count_one_in_the_singular():
    import json

    from bailey.report import Instance, Report
    from barnum.model.results import FleetResult, HostResult, interpret
    from barnum.views.progress import progress_text
    from barnum.views.render import summary_line
    from barnum.web.model import Counters
    from barnum.web.render import counters

    rep = Report(host="host1", bailey_version="0.1.0", circusctl_args=["status"])
    rep.instances.append(Instance("circus_u1_host1.service", "u1", "User=", "enabled",
                                  "active", "running", state="ok", watchers={"w": "active"}))
    h = HostResult("host1", [], ["bailey", "--json"], stdout=json.dumps(rep.to_dict()),
                   exit_status=0)
    interpret(h)
    assert summary_line(FleetResult([h])).plain == (
        "1 host: 1 ok, 0 failed; 1 instance: 1 ok, 0 failed")
    assert progress_text(0, 1, [], 80) == "0/1 host done"
    html = counters(Counters(hosts_up=1, hosts_down=0, instances_ok=1, instances_failed=2,
                             watchers_active=1, watchers_stopped=0, watchers_flapped=1))
    assert '<span class="n">1</span> host up' in html
    assert '<span class="n">0</span> hosts down' in html
    assert '<span class="n">1</span> instance ok' in html
    assert '<span class="n">2</span> instances failed' in html
    assert '<span class="n">1</span> watcher flapped (last hour)' in html
    assert 'data-counter="hosts up"' in html  # the name stays, whatever the number
