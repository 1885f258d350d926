"""tablelog_agent: the asyncio uploader daemon."""
