"""`Image`: pixels from an array, a PIL image, a torch tensor or a file.

Array input (numpy, or anything with ``__array__``):

- trivial dimensions are dropped as wandb drops them (``squeeze``): (H, W),
  (1, H, W) and (H, W, 1) are grayscale ("L"), (H, W, 3) is "RGB", (H, W, 4) is
  "RGBA"; any other shape is a `MediaError`.
- values follow wandb 0.31 (`to_uint8`): with ``normalize=True`` (the default),
  whatever the dtype, all in [0, 1] -> x * 255, all in [-1, 1] -> 255 * (x + 1) / 2,
  truncated; anything else clipped to [0, 255]. bool becomes 0/255; NaN becomes
  0, with a warning.
- JPEG of RGBA pixels drops the alpha channel with wandb's warning.

A torch tensor (C, H, W) is detached, moved to the CPU and made (H, W, C);
torch is imported by nobody here, the tensor is recognised by its class.

The pixels compared by ``==`` and returned by `to_data_array` are the pixels
after that conversion (for files: decoded from the file). PNG and BMP are
lossless, so once encoded the private pixel copy is dropped and decoded again
from the bytes when needed; with JPEG the copy is kept, so the pixels of a
value never change because it was encoded. Two images whose encoded bytes are
the same are equal: a JPEG image read back from storage equals the value it
was stored from, though its decoded pixels differ slightly from the input.
"""

from __future__ import annotations

import io
import os
import types
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tablelog.data_types import overlays
from tablelog.data_types.media_base import Media, read_source
from tablelog.errors import MediaError

_FILE_TYPES = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "bmp": "BMP"}
_LOSSLESS = {"png", "bmp"}
_MODES_BY_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}
_FORMAT_NAMES = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "GIF": "gif", "WEBP": "webp",
                 "TIFF": "tiff"}


def _is_matplotlib(value: Any) -> bool:
    """A matplotlib object or the pyplot module, recognised without importing matplotlib."""
    name = getattr(value, "__name__", None) if isinstance(value, types.ModuleType) else None
    return name == "matplotlib.pyplot" or type(value).__module__.startswith("matplotlib.")


def _is_torch_tensor(value: object) -> bool:
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def _pil_to_array(pil: Any) -> np.ndarray[Any, Any]:
    if pil.mode in ("L", "RGB", "RGBA"):
        return np.asarray(pil)
    if pil.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return np.asarray(pil)  # numeric: goes through the array rules
    alpha = "A" in pil.getbands() or "transparency" in pil.info
    return np.asarray(pil.convert("RGBA" if alpha else "RGB"))


def to_uint8(data: np.ndarray[Any, Any], *, normalize: bool = True) -> np.ndarray[Any, Any]:
    """Pixel values as uint8, as wandb 0.31 makes them (a new array).

    With `normalize` (the default), whatever the dtype: values all in [0, 1] are
    multiplied by 255, values all in [-1, 1] are mapped by 255 * (x + 1) / 2 (both
    truncated to integers, as numpy's cast does), anything else is clipped to
    [0, 255]; values outside [0, 255] warn, as wandb's. Without it the values
    are taken as 0-255 (tablelog clips what lies outside, with a warning, where
    wandb's cast would wrap around). NaN and infinities become 0, with a warning."""
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise MediaError(f"Image arrays must be numeric, got dtype {data.dtype}")
    values = data
    if np.issubdtype(data.dtype, np.floating):
        finite = np.isfinite(data)
        if not finite.all():
            warnings.warn("Image contains NaN or infinite values; they become 0",
                          UserWarning, stacklevel=4)
            values = np.where(finite, data, 0)
    lo, hi = values.min(), values.max()
    if normalize:
        if lo < 0 or hi > 255:
            done = "rescaled" if lo >= -1 and hi <= 1 else "clipped"
            warnings.warn("Data passed to `wandb.Image` should consist of values in the range "
                          f"[0, 255]; these range over [{lo}, {hi}] and are {done}",
                          UserWarning, stacklevel=4)
        if lo >= 0 and hi <= 1:
            return np.asarray(values * 255, dtype=np.float64).astype(np.uint8)
        if lo >= -1 and hi <= 1:
            return np.asarray(255 * 0.5 * (values + 1), dtype=np.float64).astype(np.uint8)
    elif lo < 0 or hi > 255:
        warnings.warn(f"Image values range over [{lo}, {hi}]; clipped to [0, 255]",
                      UserWarning, stacklevel=4)
    return np.asarray(np.clip(values, 0, 255)).astype(np.uint8)


def _check_shape(arr: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """(H, W), (H, W, 3) or (H, W, 4), after dropping trivial dimensions as wandb does
    (``(1, H, W)`` and ``(H, W, 1)`` are grayscale)."""
    if arr.ndim > 2:
        arr = arr.squeeze()
    if arr.size == 0 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4))):
        hint = " (channels go last: (H, W, C))" if arr.ndim == 3 and arr.shape[0] in (3, 4) \
            else ""
        raise MediaError(f"Un-supported image shape {arr.shape}: expected (H, W), (H, W, 1), "
                         f"(1, H, W), (H, W, 3) or (H, W, 4){hint}")
    return arr


class Image(Media):
    """An image for a table cell or a log call, as ``wandb.Image``.

    `data_or_path`: a numpy array, a PIL image, a torch tensor (C, H, W),
    another `Image`, or a local file path. `file_type` (png, jpg, jpeg, bmp)
    picks the encoding of array input; a file is kept as it is. `mode`
    ("L", "RGB", "RGBA") converts array input to that mode. `boxes`, `masks`
    and `classes` are overlays, checked and stored as wandb's
    (`tablelog.data_types.overlays`).
    """

    _kind = "image"
    MAX_ITEMS = 108

    def __init__(self, data_or_path: Any, mode: str | None = None,
                 caption: str | None = None, grouping: int | None = None,
                 classes: Any = None, boxes: Any = None, masks: Any = None,
                 file_type: str | None = None, *, normalize: bool = True) -> None:
        super().__init__(caption)
        self._boxes = overlays.check_boxes(boxes) if boxes is not None else {}
        self._masks = overlays.check_masks(masks) if masks is not None else {}
        self._classes = overlays.as_classes(classes)
        file_type = "png" if file_type is None else str(file_type).lower()
        if file_type not in _FILE_TYPES:
            raise MediaError(f"Image file_type must be one of png, jpg, jpeg, bmp; "
                             f"got {file_type!r}")
        self.format = file_type
        self._grouping = grouping
        self._array: np.ndarray[Any, Any] | None = None
        self._file_bytes: bytes | None = None
        self._size: tuple[int, int] = (0, 0)  # (width, height)
        self._mode = ""

        if isinstance(data_or_path, Image):
            self._copy_from(data_or_path)
            self._boxes = self._boxes or dict(data_or_path._boxes)
            self._masks = self._masks or dict(data_or_path._masks)
            self._classes = self._classes or data_or_path._classes
            return
        if isinstance(data_or_path, str | os.PathLike):
            self._load_file(read_source(data_or_path, "image"))
            return
        if _is_matplotlib(data_or_path):  # a Figure, an artist on one, or pyplot: as wandb
            from tablelog.runtime.log_values import figure_media

            data_or_path = figure_media(data_or_path).to_data_array()
        if type(data_or_path).__module__.startswith("PIL.") and hasattr(data_or_path, "mode"):
            arr = _pil_to_array(data_or_path)
        elif _is_torch_tensor(data_or_path):
            arr = np.asarray(data_or_path.detach().cpu().numpy())
            if arr.ndim == 3:
                arr = arr.transpose(1, 2, 0)
        elif isinstance(data_or_path, np.ndarray) or hasattr(data_or_path, "__array__"):
            arr = np.asarray(data_or_path)
        else:
            raise MediaError(f"Image needs an array, a PIL image, a torch tensor or a file "
                             f"path; got {type(data_or_path).__name__}")
        pixels = _check_shape(to_uint8(_check_shape(arr), normalize=normalize))
        if mode is None and pixels.ndim == 3 and pixels.shape[-1] == 4 \
                and _FILE_TYPES[self.format] == "JPEG":
            warnings.warn("JPEG format does not support transparency. Ignoring alpha channel.",
                          UserWarning, stacklevel=2)  # as wandb's
            mode = "RGB"
        if mode is not None and mode != self._mode_of(pixels):
            pixels = self._convert_mode(pixels, mode)
        self._array = pixels
        self._size = (int(pixels.shape[1]), int(pixels.shape[0]))
        self._mode = self._mode_of(pixels)

    # -- construction helpers -------------------------------------------------

    @staticmethod
    def _mode_of(pixels: np.ndarray[Any, Any]) -> str:
        return "L" if pixels.ndim == 2 else _MODES_BY_CHANNELS[pixels.shape[-1]]

    @staticmethod
    def _convert_mode(pixels: np.ndarray[Any, Any], mode: str) -> np.ndarray[Any, Any]:
        if mode not in ("L", "RGB", "RGBA"):
            raise MediaError(f"Image mode must be L, RGB or RGBA, got {mode!r}")
        from PIL import Image as PILImage

        return np.asarray(PILImage.fromarray(pixels).convert(mode)).copy()

    def _copy_from(self, other: Image) -> None:
        with other._lock:
            self._array, self._file_bytes = other._array, other._file_bytes
            self.format, self._size, self._mode = other.format, other._size, other._mode
            if other._encoded is not None and self._file_bytes is None:
                self._file_bytes = other._encoded[0]
        if self.caption is None:
            self.caption = other.caption

    def _load_file(self, data: bytes) -> None:
        from PIL import Image as PILImage
        from PIL import UnidentifiedImageError

        try:
            with PILImage.open(io.BytesIO(data)) as pil:
                fmt, self._size, self._mode = pil.format or "", pil.size, pil.mode
        except (UnidentifiedImageError, OSError) as exc:
            raise MediaError(f"not an image file PIL can read: {exc}") from exc
        self.format = _FORMAT_NAMES.get(fmt, fmt.lower())
        self._file_bytes = data

    # -- pixels -----------------------------------------------------------------

    def _pixels(self) -> np.ndarray[Any, Any]:
        """The pixel array (private: do not modify)."""
        with self._lock:
            if self._array is not None:
                return self._array
            data = self._file_bytes if self._file_bytes is not None else self._encode()[0]
        from PIL import Image as PILImage

        with PILImage.open(io.BytesIO(data)) as pil:
            return _pil_to_array(pil)

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self._size[0]

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self._size[1]

    @property
    def mode(self) -> str:
        """PIL mode: L, RGB or RGBA for array input; the file's mode for files."""
        return self._mode

    @property
    def image(self) -> Any:
        """The pixels as a PIL image (a new one each call)."""
        from PIL import Image as PILImage

        return PILImage.fromarray(self._pixels())

    def to_data_array(self) -> np.ndarray[Any, Any]:
        """A copy of the pixels: (H, W) for L, (H, W, 3/4) for RGB/RGBA, dtype uint8."""
        return np.array(self._pixels(), copy=True)

    # -- encoding ---------------------------------------------------------------

    def _encode_now(self) -> tuple[bytes, dict[str, Any]]:
        if self._file_bytes is not None:
            data = self._file_bytes
        else:
            from PIL import Image as PILImage

            assert self._array is not None
            pil = PILImage.fromarray(self._array)
            if _FILE_TYPES[self.format] == "JPEG" and pil.mode == "RGBA":
                pil = pil.convert("RGB")  # JPEG has no alpha channel
            buf = io.BytesIO()
            pil.save(buf, format=_FILE_TYPES[self.format])
            data = buf.getvalue()
        meta: dict[str, Any] = {"format": self.format, "width": self.width,
                                "height": self.height, "mode": self.mode}
        if self._grouping is not None:
            meta["grouping"] = self._grouping
        if self._boxes:
            meta["boxes"] = overlays.boxes_meta(self._boxes)
        if self._masks:  # PNGs of class ids, made here: on the writer thread
            meta["masks"] = overlays.masks_meta(self._masks)
        if self._classes is not None:
            meta["classes"] = self._classes.class_set
        return data, meta

    def _after_encode(self) -> None:
        if self.format in _LOSSLESS:
            self._array = None

    def _restore(self, meta: dict[str, Any]) -> None:
        self.format = str(meta.get("format", "png"))
        self._grouping = meta.get("grouping")
        self._array = None
        self._file_bytes = None
        self._size = (int(meta.get("width", 0)), int(meta.get("height", 0)))
        self._mode = str(meta.get("mode", ""))
        self._boxes = overlays.boxes_from_meta(meta.get("boxes"))
        self._masks = overlays.masks_from_meta(meta.get("masks"))
        classes = meta.get("classes")
        self._classes = overlays.Classes(classes) if isinstance(classes, list) else None

    # -- overlays -------------------------------------------------------------------

    @property
    def boxes(self) -> dict[str, dict[str, Any]]:
        """Box sets by name: ``{"box_data": [...], "class_labels": {id: name}}``."""
        return {k: {"box_data": list(v["box_data"]), "class_labels": dict(v["class_labels"])}
                for k, v in self._boxes.items()}

    @property
    def masks(self) -> dict[str, overlays.Mask]:
        """Masks by name (`.data`: the (H, W) class ids, `.class_labels`)."""
        return dict(self._masks)

    @property
    def classes(self) -> overlays.Classes | None:
        return self._classes

    @classmethod
    def all_captions(cls, images: Sequence[Image]) -> list[str | None] | bool:
        """Every image's caption, or False when none has one (as wandb)."""
        captions = [i.caption for i in images]
        return captions if any(c is not None for c in captions) else False

    @classmethod
    def all_boxes(cls, images: Sequence[Image], run: Any = None, run_key: Any = None,
                  step: Any = None) -> list[dict[str, Any]] | bool:
        """Every image's box sets, or False when none has any (as wandb)."""
        found = [i.boxes for i in images]
        return found if any(found) else False

    @classmethod
    def all_masks(cls, images: Sequence[Image], run: Any = None, run_key: Any = None,
                  step: Any = None) -> list[dict[str, Any] | None] | bool:
        """Every image's masks as ``{name: {"mask_data", "class_labels"}}`` (None for an
        image without), or False when none has any (as wandb)."""
        found = [{k: {"mask_data": m.data.copy(), "class_labels": dict(m.class_labels)}
                  for k, m in i._masks.items()} or None for i in images]
        return found if any(f is not None for f in found) else False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        if self.caption != other.caption:
            return False
        if (self._boxes, self._masks, self._classes) != (other._boxes, other._masks,
                                                          other._classes):
            return False
        if (self._encoded is not None and other._encoded is not None
                and self._encoded[0] == other._encoded[0]):
            return True
        a, b = self._pixels(), other._pixels()
        return a.shape == b.shape and bool(np.array_equal(a, b))

    __hash__ = None
