"""``python -m tablelog_agent [--dir D] [--idle-exit S] …``: what the SDK spawns.

Takes exactly the options of `tablelog agent`.
"""

from __future__ import annotations

import sys

from tablelog_agent.cli import main

if __name__ == "__main__":
    sys.exit(main(["agent", *sys.argv[1:]]))
