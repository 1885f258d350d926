"""Blobs as one entity sees them: stored once per hash, readable per entity.

The blob store is content-addressed and shared, so two entities logging the
same bytes keep one file. Who may read a blob is recorded apart from the bytes,
in the metadata store: an entity *holds* a blob once one of its keys uploaded
bytes that hash to its address (or, on a database upgraded from schema 2, once
one of its entries referenced it). Every route that serves blob bytes or says
whether a blob exists goes through `BlobScope`, which answers as if a blob the
entity does not hold were not stored at all — the same 404, the same
``missing`` — so no key learns what another entity uploaded.

An entry never grants a blob by naming it: the batch planner asks `missing`
for every address an entry references (artifact blobs, media values), so an
entry naming a blob its entity does not hold answers ``missing_blobs``, exactly
as for a blob nobody stored; an agent that has the bytes uploads them and sends
the entry again.

Holdings are only ever added (the server deletes no blob), which is what lets
`tablelog_server.tables` cache a table it has checked for an entity.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence

import msgpack

from tablelog import wire
from tablelog_server.blobs import BlobStore, check_address
from tablelog_server.errors import NotFoundError
from tablelog_server.metadata import MetadataStore

_ADDRESS_MARK = b"\xd9\x40"
"""How msgpack writes a 64-character string (str8 of length 64): every media value
the SDK encodes holds its address that way, so bytes without it hold none."""


def not_stored(sha256: str) -> NotFoundError:
    """The one answer for a blob that is absent or not the entity's (the same words
    either way)."""
    return NotFoundError(f"blob {sha256} is not stored")


def media_addresses(data: bytes) -> list[str]:
    """The blob addresses of the media values (`wire.MediaRef`) in msgpack `data`,
    each once, in order; [] for malformed data (its decoder reports that).

    Only bytes that can hold an address are decoded, with a hook that keeps the
    addresses and builds nothing else (no arrays, no timestamps). Media written
    with a non-minimal string header are not found: that grants nothing (holding
    comes from uploads), it only leaves such a value unchecked at apply time."""
    if _ADDRESS_MARK not in data:
        return []
    found: dict[str, None] = {}

    def hook(code: int, payload: bytes) -> None:
        if code == wire.EXT_MEDIA:
            try:
                ref = msgpack.unpackb(payload, raw=False)
            except Exception:  # msgpack raises many types on garbage
                return
            if isinstance(ref, list) and len(ref) > 1 and wire.is_sha256(ref[1]):
                found[ref[1]] = None

    try:
        msgpack.unpackb(data, raw=False, ext_hook=hook, strict_map_key=False)
    except Exception:  # as above: the entry's own decoding says what is wrong
        return []
    return list(found)


class BlobScope:
    """The `BlobStore` seen through the holdings in the `MetadataStore`."""

    def __init__(self, blobs: BlobStore, metadata: MetadataStore) -> None:
        self.blobs = blobs
        self.metadata = metadata

    async def missing(self, entity: str, shas: Sequence[str]) -> list[str]:
        """The addresses in `shas` that `entity` would have to upload, in order, each
        once: those it does not hold, and those it holds whose file is gone."""
        unique = list(dict.fromkeys(check_address(s) for s in shas))
        if not unique:
            return []
        held = await self.metadata.held_blobs(entity, unique)
        gone = set(await self.blobs.missing([s for s in unique if s in held]))
        return [s for s in unique if s not in held or s in gone]

    async def check(self, entity: str, shas: Sequence[str]) -> None:
        """`NotFoundError` (as for an absent blob) unless `entity` holds every one of
        `shas`."""
        wanted = list(dict.fromkeys(check_address(s) for s in shas))
        if not wanted:
            return
        held = await self.metadata.held_blobs(entity, wanted)
        for sha in wanted:
            if sha not in held:
                raise not_stored(sha)

    async def put_stream(self, entity: str, sha256: str, chunks: AsyncIterable[bytes], *,
                         max_bytes: int) -> int:
        """Store (or, when the file exists, only verify) the streamed bytes, then record
        `entity` as a holder: only bytes that hash to the address grant it."""
        size = await self.blobs.put_stream(sha256, chunks, max_bytes=max_bytes)
        await self.metadata.hold_blobs(entity, [sha256])
        return size

    async def size(self, entity: str, sha256: str) -> int:
        """The blob's size; `NotFoundError` when absent or not `entity`'s."""
        await self.check(entity, [sha256])
        size = await self.blobs.size(sha256)
        if size is None:
            raise not_stored(sha256)
        return size

    async def read(self, entity: str, sha256: str, *, max_bytes: int) -> bytes:
        """A whole (small) blob of `entity`'s (see `BlobStore.read`)."""
        await self.check(entity, [sha256])
        return await self.blobs.read(sha256, max_bytes=max_bytes)
