"""``barnum shell``: an interactive command line over the live fleet session.

parse (words, commands, target sets: pure), complete (what a word may
become, from the session's live names: pure), gather (identical answers
in one block: pure), run (executing a command on the session), repl (the
terminal: prompt_toolkit, history, events above the prompt).
"""
