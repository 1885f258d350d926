"""Every exception the tablelog server raises, in one tree.

    ServerError                         root: anything the server raises on purpose
    ├── ConfigError (ValueError)            bad options, keys file or environment; exit 2
    ├── StorageError                        a store cannot be used as it is on disk
    │   └── SchemaVersionError              the database was written by a newer server
    ├── EntryRejectedError (ValueError)     one batch entry is invalid: answered `rejected`
    └── RequestError                        the request cannot be served; `status` is its HTTP code
        ├── BadRequestError (400)           malformed body, query or path parameter
        │   └── BlobDigestError             uploaded bytes do not hash to their address
        ├── AuthenticationError (401)       no key, or not a key this server knows
        ├── PermissionDeniedError (403)     the key's entity may not touch that entity
        ├── NotFoundError (404)             no such project, run, artifact, version, entry, blob
        ├── PayloadTooLargeError (413)      body or blob over the configured limit
        ├── TooManyRequestsError (429)      too many failed authentications from one
        │                                   address; answered with Retry-After
        └── UnreadableDataError (422)       stored bytes that cannot be read as asked
                                            (e.g. a table entry whose blob is not a table)

Handlers raise `RequestError`s; one middleware turns them into ``{"error": ...}``
answers with their status. Anything else that escapes a handler is a bug and
answers 500 — the tests throw random input at every write route to keep it so.
"""

from __future__ import annotations

from typing import ClassVar


class ServerError(Exception):
    """Root of every error the tablelog server raises on purpose."""


class ConfigError(ServerError, ValueError):
    """The command line, keys file or environment does not make a usable configuration."""


class StorageError(ServerError):
    """A metadata or blob store cannot be used as it is found on disk."""


class SchemaVersionError(StorageError):
    """The metadata database was written by a newer server than this one."""


class EntryRejectedError(ServerError, ValueError):
    """One batch entry cannot be applied, permanently; its message is the reason
    sent back to the agent (which dead-letters the entry)."""


class RequestError(ServerError):
    """The request cannot be served; the message is sent back as ``{"error": ...}``."""

    status: ClassVar[int] = 400


class BadRequestError(RequestError):
    """A malformed body, query parameter or path parameter."""

    status = 400


class BlobDigestError(BadRequestError):
    """Uploaded bytes do not hash to the address they were sent to; nothing was stored."""


class AuthenticationError(RequestError):
    """No ``Authorization: Bearer KEY`` header, or a key this server does not know."""

    status = 401


class PermissionDeniedError(RequestError):
    """The key belongs to another entity than the one the request touches."""

    status = 403


class NotFoundError(RequestError):
    """No project, run, artifact, version, alias, entry or blob by that name."""

    status = 404


class ConflictError(RequestError):
    """The request contradicts what is stored (e.g. deleting a version a run needs)."""

    status = 409


class PayloadTooLargeError(RequestError):
    """A request body or blob larger than the server's configured limit."""

    status = 413


class TooManyRequestsError(RequestError):
    """Too many failed authentications from the client's address (see
    `tablelog_server.auth_limits`); `retry_after_s` goes out as ``Retry-After``."""

    status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnreadableDataError(RequestError):
    """Stored bytes that cannot be read the way the request asks (e.g. as a table)."""

    status = 422
