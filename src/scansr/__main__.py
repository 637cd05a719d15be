"""``python -m scansr``: the ``scansr`` command (e.g. under ``torchrun -m scansr train ...``)."""

import sys

from scansr.cli import main

if __name__ == "__main__":
    sys.exit(main())
