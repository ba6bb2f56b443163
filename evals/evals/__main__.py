"""`python -m evals`: see evals.cli."""

import sys

from evals.cli import main

sys.exit(main())
