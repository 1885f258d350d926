"""What a program logs: `Table`, `JoinedTable`, column types and media values.
"""
