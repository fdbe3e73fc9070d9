"""progress_text: the slowest pending hosts first, fit to the terminal, hosts' names cleaned."""

from barnum.views.progress import progress_text


def test_slowest_first_and_the_rest_counted():
    pending = [("host1", 0.5), ("host9", 4.25), ("host3", 2.0), ("host4", 1.0), ("host5", 0.1)]
    assert progress_text(7, 12, pending, 200) == (
        "7/12 hosts done; waiting for host9 4.2s, host3 2.0s, host4 1.0s, +2")


def test_fits_the_width_without_touching_the_last_column():
    text = progress_text(1, 96, [(f"host{i}", float(i)) for i in range(50)], 40)
    assert len(text) == 39 and text.endswith("…")


def test_nothing_pending_started_yet():
    assert progress_text(0, 4, [], 80) == "0/4 hosts done"


def test_a_hostile_name_is_shown_escaped():
    assert "\x1b" not in progress_text(0, 1, [("h\x1b]0;x\x07", 1.0)], 80)
