"""``python -m barnum``: the same as the ``barnum`` command (warm when it can be)."""

import sys

from barnum.warm.client import main

sys.exit(main())
