"""``python -m segzoo.bench``: the ``segzoo bench`` command."""

import sys

from segzoo.cli.bench import main

sys.exit(main(prog="python -m segzoo.bench"))
