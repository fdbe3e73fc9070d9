"""A hung circusd, named the same way by every front end and by ``/metrics``.

systemd says the unit is active, yet its circusd did not answer within the
timeout (bailey's native client or circusctl timed out).  systemd sees no
fault here, so only barnum can tell; the fix is ``barnum unit restart``.
"""

from __future__ import annotations

NOT_ANSWERING = "circusd not answering"

_TIMED_OUT = ("circusd did not answer", "circusctl still running after")


def not_answering(active_state: str, state: str, error: str | None,
                  stderr: str = "") -> bool:
    """Pure: the unit is active and its circusd did not answer in time (bailey's
    ``error`` state with a timeout as its cause, not a bad config or a refusal)."""
    if active_state != "active" or state != "error":
        return False
    return (error or "").startswith(_TIMED_OUT) or "Timed out." in (stderr or "")
