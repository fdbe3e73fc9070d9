"""Warm by default: a per-operator background session that later calls are served from."""
