"""A small project logged through the real SDK, for the viewer's browser test and
screenshots: a run with metrics, a growing predictions table with images (two
versions), a table of audio clips and GIFs, and an artifact with a JoinedTable.
Some cells hold markup that must show as text."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tablelog as wandb

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
FIRST_ROWS = 60
ALL_ROWS = 120
LABELS = ("cat", "dog", "bird", "fish")


@dataclass(frozen=True)
class SampleRun:
    """What the sample logged, for the test to look for."""

    project: str
    run_id: str
    run_name: str

    @property
    def preds_artifact(self) -> str:
        """The artifact of the logged ``preds`` table."""
        return f"run-{self.run_id}-preds"


def _picture(i: int) -> np.ndarray:
    """A 24×24 picture that differs per row: a colour gradient with a square."""
    y, x = np.mgrid[0:24, 0:24]
    hue = (i * 37) % 255
    img = np.stack([(x * 10 + hue) % 255, (y * 10 + 2 * hue) % 255,
                    np.full_like(x, (255 - hue))], axis=-1).astype(np.uint8)
    s = 4 + i % 10
    img[s:s + 8, s:s + 8] = (255, 255, 255)
    return img


def _row(i: int) -> list[object]:
    truth = LABELS[i % len(LABELS)]
    guess = LABELS[(i * 7) % len(LABELS)]
    score = round((math.sin(i) + 1) / 2, 4)
    note = XSS_SCRIPT if i == 3 else (XSS_IMG if i == 4 else f"sample {i}")
    return [i, wandb.Image(_picture(i), caption=f"#{i} {truth}"), guess, truth, score, note]


def log_sample(project: str = "vision") -> SampleRun:
    """Log the sample run (the SDK must already be configured by the environment)."""
    columns = ["id", "image", "guess", "truth", "score", "note"]
    preds = wandb.Table(columns=columns, data=[_row(i) for i in range(FIRST_ROWS)],
                        log_mode="MUTABLE")
    with wandb.init(project=project, name="mlp-baseline",
                    config={"lr": 0.01, "epochs": 20, "model": "mlp", "comment": XSS_IMG}
                    ) as run:
        for step in range(20):
            run.log({"loss": 2.0 * math.exp(-step / 6) + 0.05 * math.sin(step),
                     "accuracy": 1 - math.exp(-step / 5)})
            if step == 9:
                run.log({"preds": preds})
        for i in range(FIRST_ROWS, ALL_ROWS):
            preds.add_data(*_row(i))
        run.log({"preds": preds})
        rate = 8000
        t = np.arange(rate // 4) / rate
        clips = wandb.Table(columns=["name", "audio", "animation"])
        for k, freq in enumerate((220, 440, 880)):
            frames = np.stack([np.roll(_picture(k), j * 3, axis=1) for j in range(4)])
            clips.add_data(f"tone {freq} Hz",
                           wandb.Audio(np.sin(2 * np.pi * freq * t).astype(np.float32),
                                       sample_rate=rate, caption=f"{freq} Hz"),
                           wandb.Video(frames, fps=4, caption=f"clip {k}"))
        run.log({"clips": clips})
        left = wandb.Table(columns=["id", "truth"], data=[[i, LABELS[i % 4]] for i in range(6)])
        right = wandb.Table(columns=["id", "guess"],
                            data=[[i, LABELS[(i * 3) % 4]] for i in range(2, 9)])
        art = wandb.Artifact("eval", "dataset")
        art.add(left, "truths")
        art.add(right, "guesses")
        art.add(wandb.JoinedTable("truths", "guesses", "id"), "compared")
        run.log_artifact(art)
    return SampleRun(project, run.id, "mlp-baseline")


def sync(queue_dir: Path, base_url: str, api_key: str) -> None:
    """Upload everything queued under `queue_dir` with ``tablelog sync`` (a subprocess)."""
    tablelog = Path(sys.executable).with_name("tablelog")
    proc = subprocess.run([str(tablelog), "sync", "--dir", str(queue_dir), "--timeout", "60",
                           "--base-url", base_url], capture_output=True, text=True, timeout=120,
                          env={"TABLELOG_API_KEY": api_key, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
