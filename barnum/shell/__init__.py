"""``barnum shell``: an interactive command line over the live fleet session.

parse (words, commands, target-set changes: pure), selection (a target set
as instances: pure), complete (what a word may become, from the session's
live names: pure), gather (identical answers in one block: pure), events
(which session events to show, as what line: pure), runner (the commands,
run on the session), repl (the terminal: prompt_toolkit, history, events
above the prompt).
"""
