"""Every exception the tablelog SDK raises, in one tree.

    TablelogError                       root: catch this to catch anything tablelog raises
    ├── TableError
    │   ├── TableRowError (ValueError)      row of the wrong length, bad argument value
    │   │   └── TableArgumentError (AssertionError)  where wandb asserts: unknown column,
    │   │                                   column of the wrong length, a second primary key
    │   ├── TableTypeError (TypeError)      a value that does not fit its column's type
    │   │   └── TableArgumentTypeError (AssertionError)  where wandb asserts: columns or
    │   │                                   data of the wrong kind (not a list, a DataFrame)
    │   └── IncrementalTableError           an operation INCREMENTAL tables do not allow
    │       └── IncrementalRunError (AssertionError)  logged to a second run (wandb asserts)
    ├── TableLimitError (ValueError)        more rows than Table.MAX_ARTIFACT_ROWS
    ├── MediaError (ValueError)             unsupported image/audio/video input
    ├── WireError (ValueError)              malformed or incompatible wire data
    │   └── TooManyEntriesError             a batch announcing more entries than allowed
    ├── QueueError                          the local queue cannot be used
    │   └── QueueFullError                  disk full or the queue's size cap reached
    ├── ArtifactError
    │   ├── ArtifactNotFoundError (KeyError)  unknown artifact, alias, version or entry
    │   └── ArtifactStateError (ValueError)   e.g. get() before the artifact was logged
    ├── RunError                            misuse of a run (log after finish, resume=must)
    │   └── MetricError                     a define_metric() argument wandb refuses
    ├── UsageError                          misuse of the API, e.g. login() with an empty key
    │   └── RunIdError (ValueError)         an init(id=...) wandb refuses (its message)
    └── ApiError (alias CommError)          reading from the server failed
        ├── AuthError (alias AuthenticationError)  the server refused the key
        ├── NotFoundOnServerError           HTTP 404 (also an ArtifactNotFoundError)
        └── PendingWritesError              a read waited TABLELOG_READ_WAIT for this
                                            directory's own entries, and some are still queued

Where wandb raises ValueError/TypeError/KeyError, our class subclasses both
so `except ValueError` in user code keeps working. Where wandb checks a Table's
arguments with a bare ``assert``, the error is also an AssertionError, so
`except AssertionError` (and ``pytest.raises(AssertionError)``) keeps working.
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


class TableArgumentError(TableRowError, AssertionError):
    """A Table argument wandb refuses with a bare ``assert`` (an unknown column, a column
    of the wrong length, a second primary key ...): a ValueError and an AssertionError."""


class TableArgumentTypeError(TableTypeError, AssertionError):
    """A Table argument of a kind wandb refuses with a bare ``assert`` (columns that are not
    a list, a `dataframe` that is not a DataFrame): a TypeError and an AssertionError."""


class IncrementalTableError(TableError):
    """An operation that INCREMENTAL tables reject (adding columns)."""


class IncrementalRunError(IncrementalTableError, AssertionError):
    """An INCREMENTAL table logged to a second run: wandb refuses it with an
    AssertionError ("An incremental Table can only be logged to one Run.")."""


class TableLimitError(TablelogError, ValueError):
    """A table has more rows than Table.MAX_ARTIFACT_ROWS."""


class MediaError(TablelogError, ValueError):
    """Media input of a shape, type or format we cannot encode."""


class OverlayError(MediaError, TypeError):
    """An image's boxes, masks or classes wandb would refuse (it raises TypeError)."""


class WireError(TablelogError, ValueError):
    """Bytes that are not a valid tablelog wire message, or of an unknown major version."""


class TooManyEntriesError(WireError):
    """A batch with more entries than the receiver accepts, refused from the entries'
    array header before any entry is decoded. `entries` is how many it announced."""

    def __init__(self, entries: int, max_entries: int) -> None:
        super().__init__(f"batch of {entries} entries is over the limit of {max_entries} "
                         "entries per batch")
        self.entries = entries
        self.max_entries = max_entries


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
    """The server refused the API key (set TABLELOG_API_KEY or run `tablelog login`)."""


class UsageError(TablelogError):
    """The SDK was called in a way it does not allow (as wandb's UsageError)."""


class RunIdError(UsageError, ValueError):
    """A run id wandb refuses (empty, whitespace at an end, one of ``:;,#?/'``), or one of
    the few more tablelog refuses (control characters, over 128 characters); wandb raises
    UsageError, tablelog raised ValueError before: this is both."""


# wandb's names for the same errors: `except wandb.errors.AuthenticationError` keeps working
CommError = ApiError
AuthenticationError = AuthError


# wandb users catch `wandb.Error`; keep the name working.
Error = TablelogError


class NotFoundOnServerError(ArtifactNotFoundError, ApiError):
    """The server has no such run, artifact or version (HTTP 404): an
    ArtifactNotFoundError, and wandb's CommError, which wandb programs catch."""


class PendingWritesError(ApiError):
    """A read from the server would miss what this directory logged: its entries were
    still queued when the read's bound (TABLELOG_READ_WAIT) passed."""
