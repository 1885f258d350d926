"""The read API (`tablelog.Api`), over the server's HTTP API.
"""
