"""tablelog_server: the aiohttp backend (and, later, web viewer) of tablelog.

Build an application with `tablelog_server.app.create_app(ServerConfig(...))`, or
run ``tablelog server`` (`tablelog_server.cli.main`). Storage sits behind two
narrow interfaces, `tablelog_server.metadata.MetadataStore` (SQLite:
`SqliteMetadataStore`) and `tablelog_server.blobs.BlobStore` (local files:
`FileBlobStore`). Importing this package starts nothing.
"""
