"""``python -m micropie``: the same as the ``micropie`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
