"""``python -m tablelog_agent [--dir D] [--idle-exit S] …``: what the SDK spawns.

Takes exactly the options of `tablelog agent`.
"""

from __future__ import annotations

import os
import sys

from tablelog_agent.cli import main

if __name__ == "__main__":
    # The SDK asks for a lower priority: on a busy node the uploader yields the CPU to
    # training (it only has to keep up on average, not win every time slice).
    niceness = int(os.environ.pop("TABLELOG_AGENT_NICE", "0") or 0)
    if niceness > 0:
        os.nice(niceness)
    sys.exit(main(["agent", *sys.argv[1:]]))
