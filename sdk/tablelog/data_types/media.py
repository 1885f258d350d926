"""Media values for tables and logs: `Image`, `Audio`, `Video`, `Html`.

Each value knows its file bytes and their sha256 but writes nothing anywhere:
the constructor checks the input and keeps a private copy, and the bytes are
made lazily, once, thread-safely by `_encode()` (see `tablelog.data_types.media_base`
for the interface the run layer uses). `media_from_encoded` rebuilds a value
read back from storage.
"""

from __future__ import annotations

import io
import os
import warnings
import wave
from collections.abc import Sequence
from typing import Any

import numpy as np

from tablelog.data_types.image import Image
from tablelog.data_types.media_base import Media, extension, read_source
from tablelog.data_types.object3d import Molecule, Object3D
from tablelog.errors import MediaError

__all__ = ["Audio", "Html", "Image", "Media", "Molecule", "Object3D", "Video",
           "media_from_encoded"]


def media_from_encoded(kind: str, data: bytes, meta: dict[str, Any]) -> Media:
    """Rebuild a media value of `kind` ("image", "audio", ...) from stored bytes and meta."""
    cls = Media.registry().get(kind)
    if cls is None:
        raise MediaError(f"unknown media kind {kind!r}; expected one of "
                         f"{', '.join(sorted(Media.registry()))}")
    return cls._from_encoded(data, meta)


# ---------------------------------------------------------------------------
# audio

_PCM_WIDTHS: dict[np.dtype[Any], int] = {
    np.dtype(np.uint8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 4}
_PCM_DTYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.uint8), 2: np.dtype("<i2"), 4: np.dtype("<i4")}


def _to_pcm(samples: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Samples as a PCM dtype WAV can hold: float in [-1, 1] -> int16; ints kept if they fit."""
    if samples.dtype in _PCM_WIDTHS:
        return np.array(samples, copy=True)
    if np.issubdtype(samples.dtype, np.floating):
        lo, hi = float(np.nanmin(samples)), float(np.nanmax(samples))
        if lo < -1.0 or hi > 1.0 or np.isnan(samples).any():
            warnings.warn(f"Audio samples range over [{lo:g}, {hi:g}]; clipped to [-1, 1] "
                          "(NaN becomes 0)", UserWarning, stacklevel=3)
        clean = np.clip(np.nan_to_num(samples.astype(np.float64)), -1.0, 1.0)
        return np.asarray(np.rint(clean * 32767.0), dtype=np.int16)
    if np.issubdtype(samples.dtype, np.integer):
        small = samples.min() >= -(2 ** 15) and samples.max() < 2 ** 15
        return samples.astype(np.int16 if small else np.int32)
    raise MediaError(f"Audio samples must be numeric, got dtype {samples.dtype}")


class Audio(Media):
    """Sound, as ``wandb.Audio``: a numpy array of samples or a local audio file.

    Arrays are (samples,) or (samples, channels) and need `sample_rate`; float
    samples in [-1, 1] are stored as 16-bit PCM, uint8/int16/int32 as they are.
    Arrays are encoded as WAV with the standard library; files (wav, mp3,
    flac, ogg, ...) are kept as they are. `to_data_array()` gives the PCM
    samples (WAV only).
    """

    _kind = "audio"

    def __init__(self, data_or_path: Any, sample_rate: int | None = None,
                 caption: str | None = None) -> None:
        super().__init__(caption)
        self._samples: np.ndarray[Any, Any] | None = None
        self._file_bytes: bytes | None = None
        self.format = "wav"
        self.sample_rate = sample_rate
        if isinstance(data_or_path, str | os.PathLike):
            self._file_bytes = read_source(data_or_path, "audio")
            self.format = extension(data_or_path) or "wav"
            if self.format == "wav":
                self.sample_rate = self._read_wav(self._file_bytes)[1]
            return
        if sample_rate is None:
            raise MediaError("Audio needs sample_rate for array input")
        if not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
            raise MediaError(f"Audio sample_rate must be a positive int, got {sample_rate!r}")
        samples = np.asarray(data_or_path)
        if samples.ndim not in (1, 2) or samples.size == 0:
            raise MediaError(f"Audio arrays must be (samples,) or (samples, channels), "
                             f"got shape {samples.shape}")
        self._samples = _to_pcm(samples)
        self.sample_rate = int(sample_rate)

    @property
    def duration(self) -> float | None:
        """Seconds of sound: known for arrays and WAV files, None for other files."""
        if self._samples is not None and self.sample_rate:
            return len(self._samples) / float(self.sample_rate)
        if self.format == "wav" and self.sample_rate:
            data = self._file_bytes if self._file_bytes is not None else (
                self._encoded[0] if self._encoded is not None else None)
            if data is not None:
                return len(self._read_wav(data)[0]) / float(self.sample_rate)
        return None

    @classmethod
    def durations(cls, audio_list: Sequence[Audio]) -> list[float | None]:
        """Each one's duration in seconds, as wandb's."""
        return [a.duration for a in audio_list]

    @classmethod
    def sample_rates(cls, audio_list: Sequence[Audio]) -> list[int | None]:
        """Each one's sample rate, as wandb's."""
        return [a.sample_rate for a in audio_list]

    @classmethod
    def captions(cls, audio_list: Sequence[Audio]) -> list[str] | bool:
        """Each one's caption ("" for none), or False when none has one, as wandb's."""
        found = [a.caption for a in audio_list]
        return False if all(c is None for c in found) else ["" if c is None else c
                                                               for c in found]

    @staticmethod
    def _read_wav(data: bytes) -> tuple[np.ndarray[Any, Any], int]:
        try:
            with wave.open(io.BytesIO(data), "rb") as wav:
                width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
                frames = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError) as exc:
            raise MediaError(f"not a WAV file the wave module can read: {exc}") from exc
        if width not in _PCM_DTYPES:
            raise MediaError(f"unsupported WAV sample width {width} bytes")
        samples = np.frombuffer(frames, dtype=_PCM_DTYPES[width]).reshape(-1, channels)
        return (samples[:, 0] if channels == 1 else samples), rate

    def _encode_now(self) -> tuple[bytes, dict[str, Any]]:
        if self._file_bytes is not None:
            data = self._file_bytes
        else:
            assert self._samples is not None and self.sample_rate is not None
            samples = self._samples
            channels = 1 if samples.ndim == 1 else samples.shape[1]
            width = _PCM_WIDTHS[samples.dtype]
            buf = io.BytesIO()
            with wave.open(buf, "wb") as wav:
                wav.setnchannels(channels)
                wav.setsampwidth(width)
                wav.setframerate(self.sample_rate)
                wav.writeframes(samples.astype(_PCM_DTYPES[width], copy=False).tobytes())
            data = buf.getvalue()
        meta: dict[str, Any] = {"format": self.format, "sample_rate": self.sample_rate}
        if self.format == "wav":
            samples, rate = (self._samples, self.sample_rate) if self._samples is not None \
                else self._read_wav(data)
            meta["channels"] = 1 if samples.ndim == 1 else int(samples.shape[1])
            meta["duration"] = len(samples) / float(rate or 1)
        return data, meta

    def _restore(self, meta: dict[str, Any]) -> None:
        self._samples, self._file_bytes = None, None
        self.format = str(meta.get("format", "wav"))
        rate = meta.get("sample_rate")
        self.sample_rate = None if rate is None else int(rate)

    def to_data_array(self) -> np.ndarray[Any, Any]:
        """The PCM samples: (samples,) or (samples, channels)."""
        if self._samples is not None:
            return np.array(self._samples, copy=True)
        if self.format != "wav":
            raise MediaError(f"cannot decode {self.format} audio; only WAV has a data array")
        data = self._file_bytes if self._file_bytes is not None else self._encode()[0]
        return self._read_wav(data)[0].copy()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Audio):
            return NotImplemented
        return (self.caption == other.caption and self.format == other.format
                and self._same_bytes(other))

    __hash__ = None


# ---------------------------------------------------------------------------
# video

_VIDEO_FORMATS = ("gif", "mp4", "webm", "ogg")


_ARRAY_VIDEO_FORMATS = ("gif", "mp4", "webm")
_CODECS = {"mp4": "libx264", "webm": "libvpx-vp9"}  # in PyAV's bundled FFmpeg


def _frames_thwc(frames: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """(T, C, H, W) or (T, H, W, C) -> (T, H, W, C); (T, C, H, W) wins when both fit.
    A batch (N, T, C, H, W) is tiled into one video, as wandb tiles it: N padded to
    a power of two with black videos, in a grid of 2**(log2(N) // 2) rows."""
    if frames.ndim == 5:
        frames = _tile_batch(frames)
    if frames.ndim != 4:
        raise MediaError(f"Video arrays must be (T, C, H, W), (T, H, W, C) or a batch "
                         f"(N, T, C, H, W), got shape {frames.shape}")
    if frames.shape[1] in (1, 3, 4):
        frames = frames.transpose(0, 2, 3, 1)
    elif frames.shape[3] not in (1, 3, 4):
        raise MediaError(f"Video frames need 1, 3 or 4 channels, got shape {frames.shape}")
    if frames.size == 0:
        raise MediaError("Video array has no frames")
    if frames.dtype != np.uint8 and (not np.issubdtype(frames.dtype, np.integer)
                                     or frames.min() < 0 or frames.max() > 255):
        raise MediaError(f"Video arrays must be uint8 (or integers in 0-255), "
                             f"got dtype {frames.dtype}")
    return np.ascontiguousarray(frames, dtype=np.uint8).copy()


def _tile_batch(batch: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """(N, T, C, H, W) (or (N, T, H, W, C)) -> (T, C, H', W') tiles, as wandb's."""
    if batch.shape[2] not in (1, 3, 4) and batch.shape[4] in (1, 3, 4):
        batch = batch.transpose(0, 1, 4, 2, 3)
    n, t, c, h, w = batch.shape
    if n == 0:
        raise MediaError("Video batch has no videos")
    if n & (n - 1):  # pad to a power of two
        pad = (1 << n.bit_length()) - n
        batch = np.concatenate([batch, np.zeros((pad, t, c, h, w), dtype=batch.dtype)])
    rows = 2 ** ((n.bit_length() - 1) // 2)
    cols = batch.shape[0] // rows
    grid = batch.reshape(rows, cols, t, c, h, w).transpose(2, 3, 0, 4, 1, 5)
    return grid.reshape(t, c, rows * h, cols * w)


def _encode_av(frames: np.ndarray[Any, Any], fmt: str, fps: float) -> bytes:
    """mp4 (H.264) or webm (VP9) of (T, H, W, C) uint8 frames, with PyAV."""
    import av as _av

    av: Any = _av  # PyAV's stubs type streams too narrowly for this use
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    elif frames.shape[-1] == 4:
        frames = frames[..., :3]
    _, h, w, _ = frames.shape
    if h % 2 or w % 2:  # yuv420p needs even sides: pad with black
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(_CODECS[fmt], rate=_fps_rational(fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(frame), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def _fps_rational(fps: float) -> Any:
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


def _decode_av(data: bytes) -> np.ndarray[Any, Any]:
    import av as _av

    av: Any = _av

    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _require_av(fmt: str) -> None:
    import importlib.util

    if importlib.util.find_spec("av") is None:
        raise MediaError(f"Video(format={fmt!r}) of an array needs PyAV, which bundles FFmpeg: "
                         "pip install av (gif needs nothing more)")


class Video(Media):
    """A video, as ``wandb.Video``: a uint8 array of frames or a local video file.

    Arrays are (T, C, H, W) (wandb's layout) or (T, H, W, C), channels 1, 3 or
    4, or a batch (N, T, C, H, W) tiled into a grid as wandb tiles it. They are
    encoded, on the writer thread, at `fps` frames per second (default 4) as
    `format`: ``gif`` (the default, with Pillow: a 256-colour palette, so decoded
    frames may differ from the input), ``mp4`` (H.264) or ``webm`` (VP9), both
    with PyAV's bundled FFmpeg (``pip install av``); odd sides are padded with a
    black row or column for them. Files (gif, mp4, webm, ogg) are kept as they are,
    their format taken from the extension.
    """

    _kind = "video"

    def __init__(self, data_or_path: Any, caption: str | None = None,
                 fps: int | None = None, format: str | None = None) -> None:
        super().__init__(caption)
        self.fps = 4 if fps is None else fps
        if not isinstance(self.fps, int | float) or self.fps <= 0:
            raise MediaError(f"Video fps must be a positive number, got {fps!r}")
        self._frames: np.ndarray[Any, Any] | None = None
        self._file_bytes: bytes | None = None
        if format is not None and format not in _VIDEO_FORMATS:
            raise MediaError(f"Video format must be one of {', '.join(_VIDEO_FORMATS)}, "
                             f"got {format!r}")
        if isinstance(data_or_path, str | os.PathLike):
            self.format = format or extension(data_or_path)
            if self.format not in _VIDEO_FORMATS:
                raise MediaError(f"Video files must be {', '.join(_VIDEO_FORMATS)}; "
                                 f"got {os.fspath(data_or_path)!r}")
            self._file_bytes = read_source(data_or_path, "video")
            return
        if format not in (None, *_ARRAY_VIDEO_FORMATS):
            raise MediaError(f"tablelog encodes video arrays as gif, mp4 or webm, not "
                             f"{format!r} (its FFmpeg has no Theora encoder)")
        self.format = format or "gif"
        if self.format != "gif":
            _require_av(self.format)
        if hasattr(data_or_path, "detach") and hasattr(data_or_path, "cpu"):  # torch
            data_or_path = data_or_path.detach().cpu().numpy()
        self._frames = _frames_thwc(np.asarray(data_or_path))

    def _encode_now(self) -> tuple[bytes, dict[str, Any]]:
        meta: dict[str, Any] = {"format": self.format, "fps": self.fps}
        if self._file_bytes is not None:
            return self._file_bytes, meta
        assert self._frames is not None
        frames = self._frames
        meta.update(frames=int(frames.shape[0]), height=int(frames.shape[1]),
                    width=int(frames.shape[2]), duration=frames.shape[0] / float(self.fps))
        if self.format in _CODECS:
            return _encode_av(frames, self.format, float(self.fps)), meta
        from PIL import Image as PILImage

        pils = [PILImage.fromarray(f[:, :, 0] if f.shape[-1] == 1 else f) for f in frames]
        buf = io.BytesIO()
        pils[0].save(buf, format="GIF", save_all=True, append_images=pils[1:],
                     duration=max(1, round(1000 / self.fps)), loop=0)
        return buf.getvalue(), meta

    def _restore(self, meta: dict[str, Any]) -> None:
        self._frames, self._file_bytes = None, None
        self.format = str(meta.get("format", "gif"))
        self.fps = meta.get("fps", 4)

    def to_data_array(self) -> np.ndarray[Any, Any]:
        """Frames as (T, H, W, C) uint8: the input array, or frames decoded (GIF with
        Pillow, mp4/webm with PyAV when it is installed)."""
        if self._frames is not None:
            return np.array(self._frames, copy=True)
        if self.format in _CODECS:
            _require_av(self.format)
            return _decode_av(self._file_bytes if self._file_bytes is not None
                              else self._encode()[0])
        if self.format != "gif":
            raise MediaError(f"cannot decode {self.format} video; gif, mp4 and webm have a "
                             "data array")
        from PIL import Image as PILImage
        from PIL import ImageSequence

        data = self._file_bytes if self._file_bytes is not None else self._encode()[0]
        with PILImage.open(io.BytesIO(data)) as gif:
            return np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Video):
            return NotImplemented
        return (self.caption == other.caption and self.fps == other.fps
                and self.format == other.format and self._same_bytes(other))

    __hash__ = None


# ---------------------------------------------------------------------------
# html


class Html(Media):
    """HTML, as ``wandb.Html``: a string of HTML, a path to an .html file, or a file object.

    As wandb: a string or path names a file only if it is an existing file whose
    extension is ``.html`` (and `data_is_not_path` is false); any other string
    is markup, fragments included. The HTML is stored verbatim (`inject` is
    accepted for compatibility; tablelog adds no stylesheet).
    """

    _kind = "html"

    def __init__(self, data: Any, inject: bool = True, data_is_not_path: bool = False) -> None:
        super().__init__(None)
        self.inject = inject
        is_path = (isinstance(data, str | os.PathLike) and not data_is_not_path
                   and os.path.isfile(data) and os.path.splitext(data)[1] == ".html")
        if is_path:
            text = read_source(data, "html").decode("utf-8")
        elif isinstance(data, str):
            text = data
        elif hasattr(data, "read"):
            if hasattr(data, "seek"):
                data.seek(0)
            content = data.read()
            text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
        else:
            raise MediaError(f"Html needs a string, a path or a file object, "
                             f"got {type(data).__name__}")
        self.html = text

    def _encode_now(self) -> tuple[bytes, dict[str, Any]]:
        return self.html.encode("utf-8"), {"format": "html"}

    def _restore(self, meta: dict[str, Any]) -> None:
        assert self._encoded is not None
        self.html = self._encoded[0].decode("utf-8")
        self.inject = False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Html):
            return NotImplemented
        return self.html == other.html

    __hash__ = None
