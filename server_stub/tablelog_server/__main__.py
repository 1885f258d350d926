"""``python -m tablelog_server``: the same as ``tablelog server``."""

from tablelog_server.cli import main

raise SystemExit(main())
