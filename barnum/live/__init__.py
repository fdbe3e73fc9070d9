"""The live session: one bailey --serve per host, its state and protocol."""
