"""``python -m scansr.cli``: the ``scansr`` command (e.g. under ``torchrun -m scansr.cli train ...``)."""

import sys

from scansr.cli import main

if __name__ == "__main__":
    sys.exit(main())
