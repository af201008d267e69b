"""``python -m dynlearn``: the command line (``dynlearn list``, ``dynlearn run NAME``)."""

import sys

from dynlearn.app.cli import main

sys.exit(main())
