"""``python -m segzoo.cli``: the ``segzoo`` command."""

import sys

from segzoo.cli.app import main

sys.exit(main())
