"""``python3 -m bailey``: the same as the ``bailey`` console script."""

import sys

from bailey.cli import main

sys.exit(main())
