"""Text every layer shares: the one terminal sanitizer and plural words."""
