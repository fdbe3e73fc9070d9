"""How to reach hosts: the users file's settings under the CLI's flags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from barnum.model.config import Config
from barnum.transport.capture import DEFAULT_MAX_OUTPUT


@dataclass
class Options:
    """How to reach hosts; CLI flags override the users file's settings."""

    ssh_config: str | None = None
    bailey: str = "bailey"  # command on the hosts, split like a shell would
    timeout: float = 10.0  # per host: connecting and running bailey, all included
    fanout: int = 32  # hosts worked on at once
    ship: bool = False  # always send bailey's source (python3 -c ...)
    auto_ship: bool = True  # ship when bailey is not installed (exit 127)
    host_key_policy: str = "accept-new"
    verbose: bool = False  # ask bailey for --verbose; relay its stderr through log
    max_output: int = DEFAULT_MAX_OUTPUT  # bytes a host may send before "output too large"
    config_template: str | None = None  # the users file's, passed on to bailey
    local: bool = False  # run bailey without SSH for names meaning this machine
    preconnect: Any = None  # barnum.transport.preconnect.Preconnect: TCP opened while starting

    @classmethod
    def from_config(cls, config: Config | None, **overrides: Any) -> Options:
        """The users file's settings, then every override that is not None."""
        o = cls()
        if config is not None:
            for key in ("ssh_config", "bailey", "timeout", "fanout", "max_output",
                        "config_template", "local"):
                v = getattr(config, key)
                if v is not None:
                    setattr(o, key, v)
        for key, v in overrides.items():
            if v is not None:
                setattr(o, key, v)
        return o
