"""What the session-based commands share: opening the session from the CLI's context."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from barnum.cli import Context
    from barnum.session import FleetSession


def open_session(ctx: Context) -> FleetSession:
    """The session over the context's targets (allowed hosts only), opened."""
    from barnum.session import FleetSession

    s = FleetSession(ctx.config, ctx.options, ctx.targets, ctx.discovery,
                     log=lambda m: ctx.err(f"warning: {m}"))
    return s.open()


def down_lines(session: FleetSession) -> list[str]:
    """``host: reason`` for every host that is not up."""
    return [f"{h}: {st.error or st.state}" for h, st in session.host_states().items()
            if st.state not in ("up", "stale")]
