"""Media values: input handling, lazy once-only encoding, and rebuilding from bytes."""

from __future__ import annotations

import copy
import hashlib
import io
import pickle
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

import tablelog as wandb
from tablelog.data_types.media import Audio, Html, Image, Media, Video, media_from_encoded
from tablelog.errors import MediaError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)


def rebuilt(value: Media) -> Media:
    data, meta = value._encode()
    return media_from_encoded(value._kind, data, meta)


class FakeTensor:
    """Quacks like a torch tensor: recognised by its module, converted via .numpy()."""

    __module__ = "torch"

    def __init__(self, array: np.ndarray[Any, Any]) -> None:
        self.array = array

    def detach(self) -> FakeTensor:
        return self

    def cpu(self) -> FakeTensor:
        return self

    def numpy(self) -> np.ndarray[Any, Any]:
        return self.array


# ---------------------------------------------------------------------------
# Image inputs


@pytest.mark.parametrize(("shape", "mode"), [
    ((4, 5), "L"), ((4, 5, 1), "L"), ((4, 5, 3), "RGB"), ((4, 5, 4), "RGBA")])
def test_image_uint8_shapes(shape: tuple[int, ...], mode: str) -> None:
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    image = wandb.Image(pixels)
    assert (image.mode, image.width, image.height) == (mode, 5, 4)
    expected = pixels.reshape(4, 5) if mode == "L" else pixels
    assert np.array_equal(image.to_data_array(), expected)


@pytest.mark.parametrize("shape", [(4,), (4, 5, 2), (3, 4, 5), (2, 4, 5, 3), (0, 5)])
def test_image_unsupported_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(MediaError, match="Un-supported image shape"):
        wandb.Image(np.zeros(shape, np.uint8))
    assert issubclass(MediaError, ValueError)


def test_image_float_scaling() -> None:
    # wandb 0.31's rules: [0, 1] -> x * 255 and [-1, 1] -> 255 * (x + 1) / 2, truncated
    unit = np.array([[0.0, 0.5, 1.0]])
    assert wandb.Image(unit).to_data_array().tolist() == [[0, 127, 255]]
    signed = np.array([[-1.0, 0.0, 1.0]])
    with pytest.warns(UserWarning, match="range"):  # wandb warns below 0 too
        assert wandb.Image(signed).to_data_array().tolist() == [[0, 127, 255]]
    bytes_like = np.array([[0.0, 100.0, 255.0]])
    assert wandb.Image(bytes_like).to_data_array().tolist() == [[0, 100, 255]]
    with pytest.warns(UserWarning, match="clipped"):
        clipped = wandb.Image(np.array([[-5.0, 300.0]]))
    assert clipped.to_data_array().tolist() == [[0, 255]]
    with pytest.warns(UserWarning, match="NaN"):
        wandb.Image(np.array([[np.nan, 0.5]]))
    with pytest.warns(UserWarning, match="clipped"):
        assert wandb.Image(np.array([[-1, 1000]])).to_data_array().tolist() == [[0, 255]]
    assert wandb.Image(np.array([[True, False]])).to_data_array().tolist() == [[255, 0]]
    # any dtype, as wandb: a 0/1 integer mask is scaled too
    assert wandb.Image(np.array([[0, 1]], dtype=np.uint8)).to_data_array().tolist() == [[0, 255]]
    assert wandb.Image(np.array([[0.5]]), normalize=False).to_data_array().tolist() == [[0]]


def test_image_shapes_squeezed_as_wandb() -> None:
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    for shape in ((1, 3, 4), (3, 4, 1), (1, 3, 4, 1)):
        image = wandb.Image(pixels.reshape(shape))
        assert image.mode == "L" and image.to_data_array().tolist() == pixels.tolist()
    with pytest.raises(MediaError, match="channels go last"):
        wandb.Image(np.zeros((3, 5, 6), dtype=np.uint8))
    rgba = np.full((2, 2, 4), 200, dtype=np.uint8)
    with pytest.warns(UserWarning, match="JPEG format does not support transparency"):
        jpeg = wandb.Image(rgba, file_type="jpg")
    assert jpeg.mode == "RGB"


def test_image_rejects_non_numeric_and_unknown_inputs() -> None:
    with pytest.raises(MediaError, match="numeric"):
        wandb.Image(np.array([["a", "b"]]))
    with pytest.raises(MediaError, match="needs an array"):
        wandb.Image(42)


def test_image_from_pil_and_torch() -> None:
    assert np.array_equal(wandb.Image(PILImage.fromarray(RGB)).to_data_array(), RGB)
    palette = PILImage.fromarray(RGB).convert("P")
    assert wandb.Image(palette).mode == "RGB"
    chw = np.ascontiguousarray(RGB.transpose(2, 0, 1))
    assert np.array_equal(wandb.Image(FakeTensor(chw)).to_data_array(), RGB)


def test_image_from_file(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    PILImage.fromarray(RGB).save(path)
    image = wandb.Image(str(path), caption="from file")
    path.write_bytes(b"overwritten later")  # the file was read at construction
    data, meta = image._encode()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert meta == {"format": "png", "width": 5, "height": 4, "mode": "RGB",
                    "caption": "from file"}
    assert np.array_equal(image.to_data_array(), RGB)
    assert image == wandb.Image(RGB, caption="from file")
    jpg = tmp_path / "y.jpg"
    PILImage.fromarray(RGB).save(jpg)
    assert wandb.Image(jpg)._encode()[1]["format"] == "jpg"


def test_image_file_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="cannot read"):
        wandb.Image(str(tmp_path / "missing.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(MediaError, match="not an image"):
        wandb.Image(bad)
    with pytest.raises(MediaError, match="remote URL"):
        wandb.Image("s3://bucket/x.png")


@pytest.mark.parametrize(("file_type", "magic"), [
    (None, b"\x89PNG"), ("png", b"\x89PNG"), ("jpg", b"\xff\xd8"), ("jpeg", b"\xff\xd8"),
    ("bmp", b"BM")])
def test_image_file_types(file_type: str | None, magic: bytes) -> None:
    image = wandb.Image(RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8), file_type=file_type)
    assert image._encode()[0].startswith(magic)


def test_image_bad_file_type() -> None:
    with pytest.raises(MediaError, match="file_type"):
        wandb.Image(RGB, file_type="gif")


def test_image_mode_and_malformed_overlays() -> None:
    assert wandb.Image(RGB, mode="L").to_data_array().ndim == 2
    with pytest.raises(MediaError, match="mode"):
        wandb.Image(RGB, mode="CMYK")
    with pytest.raises(MediaError, match="boxes"):
        wandb.Image(RGB, boxes={"predictions": {}})


def test_image_equality_is_pixels_and_caption() -> None:
    assert wandb.Image(RGB, caption="a") == wandb.Image(RGB.copy(), caption="a")
    assert wandb.Image(RGB, caption="a") != wandb.Image(RGB, caption="b")
    other = RGB.copy()
    other[0, 0, 0] ^= 1
    assert wandb.Image(RGB) != wandb.Image(other)
    assert wandb.Image(RGB) != wandb.Image(RGB[:, :4])
    assert wandb.Image(RGB) != "image"
    assert wandb.Image(wandb.Image(RGB, caption="c")) == wandb.Image(RGB, caption="c")


def test_image_keeps_a_private_copy() -> None:
    pixels = RGB.copy()
    image = wandb.Image(pixels)
    pixels[:] = 0
    assert np.array_equal(image.to_data_array(), RGB)
    image.to_data_array()[:] = 0
    assert np.array_equal(image.to_data_array(), RGB)


# ---------------------------------------------------------------------------
# encoding: lazy, once, thread-safe


def test_constructors_do_not_encode() -> None:
    for value in (wandb.Image(RGB), wandb.Audio(np.zeros(8), sample_rate=8000),
                  wandb.Video(np.zeros((2, 3, 4, 4), np.uint8)), wandb.Html("<p>")):
        assert value._encoded is None


def test_encoding_runs_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    image = wandb.Image(RGB)
    calls: list[int] = []
    real = Image._encode_now

    def counting(self: Image) -> tuple[bytes, dict[str, Any]]:
        calls.append(1)
        return real(self)

    monkeypatch.setattr(Image, "_encode_now", counting)
    barrier = threading.Barrier(8)
    results: list[str] = []

    def encode() -> None:
        barrier.wait()
        results.append(image.sha256)

    threads = [threading.Thread(target=encode) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]
    assert len(set(results)) == 1
    assert results[0] == hashlib.sha256(image._encode()[0]).hexdigest()


def test_encoded_meta_is_a_copy() -> None:
    image = wandb.Image(RGB)
    image._encode()[1]["format"] = "changed"
    assert image._encode()[1]["format"] == "png"


def test_media_copy_and_pickle() -> None:
    image = wandb.Image(RGB, caption="p")
    image._encode()
    for clone in (copy.deepcopy(image), pickle.loads(pickle.dumps(image))):
        assert clone == image and clone.sha256 == image.sha256


# ---------------------------------------------------------------------------
# rebuilding from stored bytes


@pytest.mark.parametrize("file_type", ["png", "bmp", "jpg"])
def test_image_round_trip(file_type: str) -> None:
    image = wandb.Image(RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8), caption="cap",
                        file_type=file_type)
    back = rebuilt(image)
    assert isinstance(back, Image) and back.caption == "cap"
    assert back.sha256 == image.sha256
    assert back == image  # same bytes
    if file_type != "jpg":  # lossless: pixel-exact
        assert np.array_equal(back.to_data_array(), image.to_data_array())
    assert (back.width, back.height, back.mode) == (7, 6, "RGB")


def test_audio_round_trip_and_samples() -> None:
    samples = np.sin(np.linspace(0, 20, 800))
    audio = wandb.Audio(samples, sample_rate=8000, caption="tone")
    data, meta = audio._encode()
    assert meta == {"format": "wav", "sample_rate": 8000, "channels": 1, "duration": 0.1,
                    "caption": "tone"}
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getnframes()) == (1, 2, 800)
    back = rebuilt(audio)
    assert back == audio
    assert np.array_equal(back.to_data_array(), audio.to_data_array())
    assert audio.to_data_array().dtype == np.int16
    assert np.allclose(audio.to_data_array() / 32767, samples, atol=1e-4)


def test_audio_stereo_and_int_samples() -> None:
    stereo = wandb.Audio(np.zeros((100, 2), np.int16), sample_rate=44100)
    assert stereo._encode()[1]["channels"] == 2
    assert rebuilt(stereo).to_data_array().shape == (100, 2)
    assert wandb.Audio(np.arange(10, dtype=np.int64), sample_rate=10).to_data_array().dtype \
        == np.int16


def test_audio_errors_and_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="sample_rate"):
        wandb.Audio(np.zeros(10))
    with pytest.raises(MediaError, match="shape"):
        wandb.Audio(np.zeros((2, 2, 2)), sample_rate=10)
    with pytest.warns(UserWarning, match="clipped"):
        wandb.Audio(np.array([0.0, 2.0]), sample_rate=10)
    path = tmp_path / "a.wav"
    data, _ = wandb.Audio(np.zeros(50), sample_rate=1000)._encode()
    path.write_bytes(data)
    from_file = wandb.Audio(path)
    assert from_file.sample_rate == 1000 and from_file._encode()[0] == data
    mp3 = tmp_path / "a.mp3"
    mp3.write_bytes(b"ID3 not really")
    assert wandb.Audio(mp3)._encode()[1]["format"] == "mp3"
    with pytest.raises(MediaError, match="only WAV"):
        rebuilt(wandb.Audio(mp3)).to_data_array()


@pytest.mark.parametrize("layout", ["TCHW", "THWC"])
def test_video_arrays_become_gif(layout: str) -> None:
    frames = RNG.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    given = frames.transpose(0, 3, 1, 2) if layout == "TCHW" else frames
    video = wandb.Video(given, fps=5, caption="v")
    data, meta = video._encode()
    assert data[:6] == b"GIF89a"
    assert meta == {"format": "gif", "fps": 5, "frames": 3, "height": 8, "width": 8,
                    "duration": 0.6, "caption": "v"}
    assert np.array_equal(video.to_data_array(), frames)
    back = rebuilt(video)
    assert back == video
    assert back.to_data_array().shape == (3, 8, 8, 3)


def test_video_errors_and_files(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="shape"):
        wandb.Video(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(MediaError, match="uint8"):
        wandb.Video(np.zeros((2, 3, 4, 4)) + 0.5)
    with pytest.raises(MediaError, match="gif, mp4 or webm, not 'ogg'"):
        wandb.Video(np.zeros((2, 3, 4, 4), np.uint8), format="ogg")
    with pytest.raises(MediaError, match="format"):
        wandb.Video(np.zeros((2, 3, 4, 4), np.uint8), format="avi")
    mp4 = tmp_path / "clip.mp4"
    mp4.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    video = wandb.Video(mp4, fps=30)
    assert video._encode() == (mp4.read_bytes(), {"format": "mp4", "fps": 30})
    assert rebuilt(video) == video
    with pytest.raises(MediaError, match="Video files"):
        wandb.Video(tmp_path / "clip.avi")


def test_html(tmp_path: Path) -> None:
    html = wandb.Html("<h1>hi ✓</h1>")
    assert html._encode() == ("<h1>hi ✓</h1>".encode(), {"format": "html"})
    assert rebuilt(html) == html
    page = tmp_path / "p.html"
    page.write_text("<p>file</p>", encoding="utf-8")
    assert wandb.Html(str(page)).html == "<p>file</p>"
    assert wandb.Html(str(page), data_is_not_path=True).html == str(page)
    assert wandb.Html(io.StringIO("<i>x</i>")).html == "<i>x</i>"
    assert wandb.Html(page).html == "<p>file</p>"  # a Path too
    other = tmp_path / "notes.txt"  # as wandb: only an .html file is read
    other.write_text("text")
    assert wandb.Html(str(other)).html == str(other)
    stream = io.StringIO("<b>b</b>")
    stream.read()
    assert wandb.Html(stream).html == "<b>b</b>"  # read from the start
    with pytest.raises(MediaError):
        wandb.Html(42)
    with pytest.raises(MediaError):
        wandb.Html(other.with_suffix(".md"))  # a Path that is not .html: neither markup
    with pytest.raises(NotImplementedError):
        html.to_data_array()


def test_audio_helpers_as_wandb() -> None:
    clips = [wandb.Audio(np.zeros(800), sample_rate=400, caption="a"),
             wandb.Audio(np.zeros(300), sample_rate=100)]
    assert wandb.Audio.durations(clips) == [2.0, 3.0]
    assert wandb.Audio.sample_rates(clips) == [400, 100]
    assert wandb.Audio.captions(clips) == ["a", ""]
    assert wandb.Audio.captions(clips[1:]) is False
    assert rebuilt(clips[0]).duration == 2.0


def test_media_from_encoded_dispatch() -> None:
    assert set(Media.registry()) == {"image", "audio", "video", "html", "object3D", "molecule"}
    assert isinstance(media_from_encoded("html", b"<p>", {}), Html)
    assert isinstance(rebuilt(wandb.Video(np.zeros((1, 1, 2, 2), np.uint8))), Video)
    assert isinstance(rebuilt(wandb.Audio(np.zeros(4), sample_rate=4)), Audio)
    with pytest.raises(MediaError, match="unknown media kind"):
        media_from_encoded("object3d", b"", {})
    assert Image._log_type == "image-file"
