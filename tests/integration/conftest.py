"""What the fleet's integration tests share."""

from __future__ import annotations

import pytest

TIMEOUT = 4  # per host, seconds: the fleet's hosts answer well within it


@pytest.fixture
def session(fleet, request):
    """One open FleetSession over the whole fleet, with the test module's ``TIMEOUT``
    where it has one (a module may define a ``session`` of its own, which then wins)."""
    from barnum.live.session import FleetSession
    from barnum.model.config import load_config
    from barnum.transport.options import Options

    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config),
                               timeout=getattr(request.module, "TIMEOUT", TIMEOUT))
    s = FleetSession(cfg, opts).open()
    yield s
    s.close()
