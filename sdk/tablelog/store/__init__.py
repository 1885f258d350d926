"""The local store a run writes and the agent reads: ``queue.db`` and the
content-addressed blob store, and the collection of blobs no entry needs.
"""
