"""``python -m numsmooth``: the command line (see :mod:`numsmooth.cli`)."""

import sys

from .cli import main

sys.exit(main())
