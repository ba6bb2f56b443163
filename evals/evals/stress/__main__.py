import sys

from evals.stress.cli import main

sys.exit(main())
