"""Per-watcher stdout/stderr files on the page and in the API (recorded snapshot).

A watcher whose instance's bailey/1 document names a stream file gets a link
per stream; the page and /api/output show its lines, escaped; a stream with
no file, an unknown unit or a bad stream name is refused before any request.
"""

from __future__ import annotations

from tests.unit.webkit import RecordedSession, client, make_web

OUT = "/srv/users/user1/chatter.out"


def _edit(doc):
    inst = doc["hosts"]["host1"]["report"]["instances"][0]
    assert inst["user"] == "user1" and "ticker" in inst["watchers"]
    inst["stream_files"] = {"stdout:ticker": OUT}


def test_link_only_for_streams_with_a_file(tmp_path):
    web = make_web(tmp_path, RecordedSession(_edit))
    page = client(web).get("/").text
    assert page.count('class="output stdout"') == 1 and 'class="output stderr"' not in page
    assert ("/output?host=host1&amp;unit=circus_user1_host1.service&amp;watcher=ticker"
            "&amp;stream=stdout") in page


def test_output_page_escapes_and_names_the_file(tmp_path):
    session = RecordedSession(_edit)
    web = make_web(tmp_path, session)
    c = client(web)
    r = c.get("/output", params={"host": "host1", "unit": "circus_user1_host1.service",
                                 "watcher": "ticker", "stream": "stdout"})
    assert r.status_code == 200
    assert "<script>alert" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; \\e[31mred" in r.text
    assert f"<code>{OUT}</code>" in r.text
    api = c.get("/api/output", params={"host": "host1", "unit": "circus_user1_host1.service",
                                       "watcher": "ticker", "stream": "stdout", "n": "1"})
    assert api.json()["lines"] == ["<script>alert(1)</script> & \\e[31mred"]
    assert api.json()["path"] == OUT


def test_refused_before_asking_a_host(tmp_path):
    session = RecordedSession(_edit)
    web = make_web(tmp_path, session)
    c = client(web)
    base = {"host": "host1", "unit": "circus_user1_host1.service", "watcher": "ticker"}
    assert c.get("/api/output", params={**base, "stream": "stdin"}).status_code == 404
    assert c.get("/api/output", params={**base, "unit": "sshd.service",
                                        "stream": "stdout"}).status_code == 404
    assert not [x for x in session.calls if x[0] == "output"]
    r = c.get("/api/output", params={**base, "stream": "stderr"})
    assert r.status_code == 404 and "to no file" in r.json()["error"]
    assert client(web, role=None).get("/api/output", params={**base, "stream": "stdout"}) \
        .status_code == 401
