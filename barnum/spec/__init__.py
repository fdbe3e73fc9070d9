"""The fleet against the users file: expectations, drift."""
