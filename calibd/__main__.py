"""`python -m calibd` is the `calibd` command."""

import sys

from calibd.cli import main

sys.exit(main())
