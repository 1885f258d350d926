"""Every exception the tablelog SDK raises, in one tree.

    TablelogError                       root: catch this to catch anything tablelog raises
    ├── TableError
    │   ├── TableRowError (ValueError)      row of the wrong length, bad argument value
    │   ├── TableTypeError (TypeError)      a value that does not fit its column's type
    │   └── IncrementalTableError           an operation INCREMENTAL tables do not allow
    ├── TableLimitError (ValueError)        more rows than Table.MAX_ARTIFACT_ROWS
    ├── MediaError (ValueError)             unsupported image/audio/video input
    ├── WireError (ValueError)              malformed or incompatible wire data
    ├── QueueError                          the local queue cannot be used
    │   └── QueueFullError                  disk full or the queue's size cap reached
    ├── ArtifactError
    │   ├── ArtifactNotFoundError (KeyError)  unknown artifact, alias, version or entry
    │   └── ArtifactStateError (ValueError)   e.g. get() before the artifact was logged
    ├── RunError                            misuse of a run (log after finish, resume=must)
    │   └── MetricError                     a define_metric() argument wandb refuses
    └── ApiError                            reading from the server failed
        └── AuthError                       the server refused the key

Where wandb raises ValueError/TypeError/KeyError, our class subclasses both
so `except ValueError` in user code keeps working.
"""

from __future__ import annotations


class TablelogError(Exception):
    """Root of every error raised by tablelog."""


class TableError(TablelogError):
    """A Table was used in a way its columns or mode do not allow."""


class TableRowError(TableError, ValueError):
    """A row or argument has the wrong shape (e.g. wrong number of cells)."""


class TableTypeError(TableError, TypeError):
    """A value does not fit the type its column already has."""


class IncrementalTableError(TableError):
    """An operation that INCREMENTAL tables reject (adding columns)."""


class TableLimitError(TablelogError, ValueError):
    """A table has more rows than Table.MAX_ARTIFACT_ROWS."""


class MediaError(TablelogError, ValueError):
    """Media input of a shape, type or format we cannot encode."""


class WireError(TablelogError, ValueError):
    """Bytes that are not a valid tablelog wire message, or of an unknown major version."""


class QueueError(TablelogError):
    """The local queue directory or database cannot be used."""


class QueueFullError(QueueError):
    """Nothing more can be persisted: the disk is full or the queue is over its cap."""


class ArtifactError(TablelogError):
    """An artifact could not be built, found or read."""


class ArtifactNotFoundError(ArtifactError, KeyError):
    """No artifact, version, alias or entry by that name."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class ArtifactStateError(ArtifactError, ValueError):
    """The artifact is not in a state that allows this (e.g. not logged yet)."""


class RunError(TablelogError):
    """A run was used after finish, or could not be resumed as asked."""


class MetricError(RunError):
    """`define_metric()` was given an argument wandb 0.31 refuses (its message too)."""


class ApiError(TablelogError):
    """Reading from the server failed: unreachable, or an unexpected answer."""


class AuthError(ApiError):
    """The server refused the API key (set TABLELOG_API_KEY)."""


# wandb users catch `wandb.Error`; keep the name working.
Error = TablelogError
