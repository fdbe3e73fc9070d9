"""Renderings the front ends share: tables, lines, progress."""
