"""`python -m promptexecution.cli` (how the console starts its embedded server)."""

import sys

from . import main

sys.exit(main())
