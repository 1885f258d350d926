"""tablelog_server: the aiohttp backend and web viewer."""
