"""The base of every media value (`Image`, `Audio`, `Video`, `Html`, `Object3D`,
`Molecule`).

A media value does no I/O to any destination. Its constructor only checks the
input and keeps a private copy of it; the file bytes are made by `_encode()`
the first time someone asks (in tablelog, the run's background writer
thread), exactly once, under a per-object lock, and cached with their sha256.

The interface the run layer uses, and nothing else:

- ``_kind``: "image" | "audio" | "video" | "html" | "object3D" | "molecule"
- ``_encode() -> (bytes, meta)``: the file and a small plain dict (format,
  size, caption, ...), cached after the first call
- ``sha256``: hex sha256 of those bytes
- ``_from_encoded(data, meta)``: rebuild a value read back from storage,
  equal (``==``) to the original
- ``to_data_array()``: the pixels / samples, for ``get_column(convert_to="numpy")``
- ``_pending_bytes()``: about how much memory the value holds (pixels, samples,
  file bytes, encoded bytes), read off sizes without encoding: what the run's
  hand-off budget counts while the value waits for the writer
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from tablelog.errors import MediaError

_M = TypeVar("_M", bound="Media")

_REMOTE_PREFIXES = ("s3://", "gs://", "http://", "https://", "az://")
# Where subclasses keep what they hold: arrays (pixels, samples, frames), the bytes
# of a file given as input, the text of an Html value.
_HELD_FIELDS = ("_array", "_samples", "_frames", "_file_bytes", "html")


class Media:
    """A media value: knows its bytes (lazily) and their sha256; never writes anywhere."""

    _kind: ClassVar[str] = ""
    _log_type: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[Media]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_kind" in cls.__dict__:
            Media._registry[cls._kind] = cls
            cls._log_type = f"{cls._kind}-file"

    def __init__(self, caption: str | None = None) -> None:
        if caption is not None and not isinstance(caption, str):
            caption = str(caption)
        self.caption = caption
        # An RLock: subclasses may read their own pixels while encoding.
        self._lock = threading.RLock()
        self._encoded: tuple[bytes, dict[str, Any]] | None = None
        self._sha256: str | None = None

    @classmethod
    def registry(cls) -> dict[str, type[Media]]:
        """kind -> media class, for every media class defined."""
        return dict(Media._registry)

    # -- encoding, once ------------------------------------------------------

    def _encode_now(self) -> tuple[bytes, dict[str, Any]]:
        """Make the file bytes and meta (subclasses). Called at most once, under the lock."""
        raise NotImplementedError

    def _after_encode(self) -> None:
        """Hook run under the lock once the bytes exist (e.g. to drop a pixel copy)."""

    def _encode(self) -> tuple[bytes, dict[str, Any]]:
        """The file bytes and a plain meta dict; encodes on the first call only."""
        encoded = self._encoded
        if encoded is None:
            with self._lock:
                if self._encoded is None:
                    data, meta = self._encode_now()
                    if self.caption is not None:
                        meta["caption"] = self.caption
                    self._encoded = (data, meta)
                    self._after_encode()
                encoded = self._encoded
        return encoded[0], dict(encoded[1])

    @property
    def sha256(self) -> str:
        """Hex sha256 of the encoded bytes (encodes if needed)."""
        if self._sha256 is None:
            data, _ = self._encode()
            self._sha256 = hashlib.sha256(data).hexdigest()
        return self._sha256

    def _pending_bytes(self) -> int:
        """About how many bytes of memory this value holds: its arrays' ``nbytes``, the
        length of file or encoded bytes. Cheap (no encoding): the training thread calls
        it for each value it hands to the writer."""
        held, seen = 0, set()
        encoded = self._encoded
        values = [self.__dict__.get(name) for name in _HELD_FIELDS]
        for value in [*values, encoded[0] if encoded is not None else None]:
            if value is None or id(value) in seen:  # a file's bytes double as its encoding
                continue
            seen.add(id(value))
            nbytes = getattr(value, "nbytes", None)
            held += nbytes if isinstance(nbytes, int) else len(value)
        return held

    def _restore(self, meta: dict[str, Any]) -> None:
        """Set subclass fields from a stored meta dict (subclasses)."""

    @classmethod
    def _from_encoded(cls: type[_M], data: bytes, meta: dict[str, Any]) -> _M:
        """Rebuild a value from its stored bytes and meta, without re-encoding."""
        obj = cls.__new__(cls)
        Media.__init__(obj, meta.get("caption"))
        obj._encoded = (bytes(data), dict(meta))
        obj._restore(dict(meta))
        return obj

    def to_data_array(self) -> Any:
        """The value's data as numpy (pixels, samples); see each subclass."""
        raise NotImplementedError(f"{type(self).__name__} has no data array")

    def _same_bytes(self, other: Media) -> bool:
        return self._encode()[0] == other._encode()[0]

    # -- copying and pickling: the lock is not state -------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    __hash__ = None  # type: ignore[assignment]  # equal by content, and mutable-looking

    def __repr__(self) -> str:
        caption = f" caption={self.caption!r}" if self.caption is not None else ""
        return f"<{type(self).__name__}{caption}>"


def read_source(path: str | os.PathLike[str], what: str) -> bytes:
    """Read a local media file given to a constructor (the input, not a destination)."""
    text = os.fspath(path)
    if text.startswith(_REMOTE_PREFIXES):
        raise MediaError(f"{what} from a remote URL is not supported: {text!r}; "
                         "download the file and pass its local path")
    try:
        return Path(text).read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read {what} file {text!r}: {exc}") from exc


def extension(path: str | os.PathLike[str]) -> str:
    """Lower-case file extension without the dot ('' if none)."""
    return Path(os.fspath(path)).suffix.lower().lstrip(".")
