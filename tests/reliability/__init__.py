"""The reliability suite: the promises of docs/architecture.md and
docs/life/ proven with real processes.

`scenarios` holds the scenarios as plain functions (a size parameter in, a
`Counts` out); the tests here run them small and `bench/reliability_report.py`
runs them large and writes docs/reliability.md.
"""
