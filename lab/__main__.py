"""python -m lab up|status|down|env: see lab/lab.py."""

import sys

from .lab import main

sys.exit(main())
