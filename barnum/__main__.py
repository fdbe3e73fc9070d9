"""``python -m barnum``: the same as the ``barnum`` command."""

import sys

from barnum.cli.main import main

sys.exit(main())
