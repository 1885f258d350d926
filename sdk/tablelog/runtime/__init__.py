"""The run in the training process: `init`/`log`/`finish`, the writer thread that
commits to the local queue, signals and exit, forks, the agent it keeps alive.
"""
