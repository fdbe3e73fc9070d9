"""Real hosts in namespaces for barnum's tests, demo and benchmark (see fleet.py)."""

from tests.fleet.fleet import OPERATOR, Fleet
from tests.fleet.layout import HostSpec, UnitSpec, default_layout, demo_layout, test_layout

__all__ = [
    "OPERATOR",
    "Fleet",
    "HostSpec",
    "UnitSpec",
    "default_layout",
    "demo_layout",
    "test_layout",
]
