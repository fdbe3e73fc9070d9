"""barnum's name for the one sanitizer, which lives in :mod:`bailey.sanitize`."""

from bailey.sanitize import Clean, clean, clean_lines, html, is_clean

__all__ = ["Clean", "clean", "clean_lines", "html", "is_clean"]
