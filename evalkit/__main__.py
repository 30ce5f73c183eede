"""``python -m evalkit <command>``: the command line of :mod:`evalkit.cli`."""
from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
