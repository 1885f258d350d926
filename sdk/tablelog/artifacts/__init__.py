"""Artifacts: building them, reading their entries back, resolving a name to one.
"""
