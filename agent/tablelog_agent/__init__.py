"""tablelog_agent: the asyncio uploader daemon and the `tablelog` command line.

Logging goes to the "tablelog_agent" logger; as a library it prints nothing
unless the application configures logging (`tablelog agent` does).
"""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
