"""The command line: the entry point, its parser and commands."""
