"""`python -m calibd` is the `calibd` command."""

import sys

from calibd.entry import main

sys.exit(main())
