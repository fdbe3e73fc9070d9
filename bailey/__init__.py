"""bailey: what the circus units on this one host are doing.

Standard library only: barnum ships this package's source to hosts that have
nothing but ``python3``.  Keep this file free of imports so that
``python3 -m bailey.cli`` starts fast.
"""

__version__ = "0.1.0"
