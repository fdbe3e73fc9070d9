"""One module per ``barnum COMMAND``: ``configure(parser)`` and ``run(args, ctx)``."""
