"""`Video` from arrays as wandb's: (T, C, H, W), (T, H, W, C) and batches (N, T, C,
H, W) tiled into a grid, encoded to gif, mp4 (H.264) or webm (VP9) with real
encoders (Pillow, PyAV's FFmpeg), kept through a run and decoded back."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tablelog as wandb
from tablelog.errors import MediaError


def _frames(t: int = 6, h: int = 16, w: int = 24) -> np.ndarray:
    """(T, C, H, W): a bright square moving across a dark field, frame by frame."""
    frames = np.full((t, 3, h, w), 20, dtype=np.uint8)
    for i in range(t):
        frames[i, :, 4:12, 2 + 3 * i:10 + 3 * i] = 230
    return frames


@pytest.mark.parametrize(("fmt", "magic_at", "magic"), [
    ("mp4", 4, b"ftyp"), ("webm", 0, b"\x1a\x45\xdf\xa3"), ("gif", 0, b"GIF8")])
def test_arrays_are_encoded_as_asked(fmt: str, magic_at: int, magic: bytes) -> None:
    video = wandb.Video(_frames(), fps=8, format=fmt)
    data, meta = video._encode()
    assert data[magic_at:magic_at + len(magic)] == magic
    assert meta == {"format": fmt, "fps": 8, "frames": 6, "height": 16, "width": 24,
                    "duration": 0.75}


def test_mp4_round_trips_through_a_run(queue_dir: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    monkeypatch.setenv("TABLELOG_MODE", "offline")
    video = wandb.Video(_frames(), fps=4, format="mp4", caption="moving")
    with wandb.init(project="v") as run:
        run.log({"clips": wandb.Table(columns=["v"], data=[[video]])})
        back = run.use_artifact(f"run-{run.id}-clips:latest").get("clips").data[0][0]
    assert back == video and back.format == "mp4" and back.caption == "moving"
    frames = back.to_data_array()
    assert frames.shape == (6, 16, 24, 3)
    # lossy, but the moving square is where it was in every frame
    expected = _frames().transpose(0, 2, 3, 1).astype(int)
    assert np.abs(frames.astype(int) - expected).mean() < 12


def test_a_batch_is_tiled_as_wandb_tiles_it() -> None:
    batch = np.stack([_frames() // (k + 1) for k in range(3)])  # (3, T, C, H, W)
    tiled = wandb.Video(batch).to_data_array()
    # wandb's rule: 3 videos padded to 4, in 2 ** ((3).bit_length() - 1) // 2) = 1 row
    assert tiled.shape == (6, 16, 4 * 24, 3)
    thwc = batch.transpose(0, 1, 3, 4, 2)
    for k in range(3):
        assert np.array_equal(tiled[:, :, 24 * k:24 * (k + 1)], thwc[k])
    assert not tiled[:, :, 72:].any()  # the padding video is black
    assert np.array_equal(wandb.Video(thwc).to_data_array(), tiled)  # channels last too
    four = wandb.Video(np.concatenate([batch, batch[:1]])).to_data_array()
    assert four.shape == (6, 2 * 16, 2 * 24, 3)  # 4 videos: 2 x 2


def test_odd_sides_are_padded_for_h264() -> None:
    video = wandb.Video(np.full((2, 7, 9, 3), 128, np.uint8), format="mp4")
    assert video.to_data_array().shape == (2, 7, 9, 3)  # the input, as given
    data, meta = video._encode()
    assert meta["width"] == 9 and meta["height"] == 7
    from tablelog.data_types.media import _decode_av

    assert _decode_av(data).shape == (2, 8, 10, 3)  # one black row and column added


def test_without_pyav_mp4_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "av" else real(name, *a))
    with pytest.raises(MediaError, match="pip install av"):
        wandb.Video(_frames(), format="webm")
    wandb.Video(_frames())  # gif needs nothing more
