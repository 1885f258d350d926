"""A small project logged through the real SDK, for the viewer's browser test and
screenshots: a run with metrics and a histogram over steps, a growing predictions
table with images (two versions), a table of audio clips and GIFs, a table of
detections (images with boxes and masks, histograms, mp4 and webm videos, HTML
fragments, point clouds, molecules) and an artifact with a JoinedTable. Some
cells hold markup that must show as text."""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
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


DETECTION_ROWS = 3
POINTS = 300
PDB = ("ATOM      1  N   ALA A   1      11.104  13.207   2.100  1.00  0.00           N\n"
       "ATOM      2  CA  ALA A   1      12.560  13.207   2.100  1.00  0.00           C\n"
       "END\n")


def _detection(i: int, molecule_path: Path) -> list[object]:
    """One detections row: boxes (two sets' worth of classes and scores) and a mask."""
    picture = np.kron(_picture(i), np.ones((2, 2, 1), dtype=np.uint8))  # 48×48
    mask = np.zeros((48, 48), dtype=np.uint8)
    mask[4:20, 4:30] = 1
    mask[26:44, 20:46] = 2
    boxes = {"predictions": {"box_data": [
        {"position": {"minX": 4, "maxX": 30, "minY": 4, "maxY": 20}, "domain": "pixel",
         "class_id": 1, "scores": {"confidence": 0.9}},
        {"position": {"middle": [0.7, 0.72], "width": 0.5, "height": 0.36},
         "class_id": 2, "box_caption": f"maybe dog {i}", "scores": {"confidence": 0.3}}],
        "class_labels": {1: "cat", 2: "dog"}}}
    masks = {"ground_truth": {"mask_data": mask, "class_labels": {0: "background", 1: "cat",
                                                                  2: "dog"}}}
    rng = np.random.default_rng(i)
    t = np.linspace(0, 1, 8)[:, None, None, None]
    frames = (np.broadcast_to(np.arange(32, dtype=np.float64), (8, 3, 32, 32)) * 8 * (1 + t)
              ).astype(np.uint8)
    cloud = np.concatenate([rng.normal(size=(POINTS, 3)), rng.integers(1, 4, (POINTS, 1))], 1)
    return [i, wandb.Image(picture, boxes=boxes, masks=masks, caption=f"detection {i}"),
            wandb.Histogram(rng.normal(i, 1, 500), num_bins=16),
            wandb.Video(frames, fps=4, format="mp4"), wandb.Video(frames, fps=4, format="webm"),
            wandb.Html(f"<p>row <b>{i}</b></p><script>parent.alert('html {i}')</script>"),
            wandb.Object3D(cloud), wandb.Molecule(str(molecule_path))]


CHARTS = {"cm": "wandb/confusion_matrix/v1", "pr": "wandb/area-under-curve/v0",
          "roc": "wandb/area-under-curve/v0", "curve": "wandb/line/v0",
          "points": "wandb/scatter/v0", "counts": "wandb/bar/v0",
          "spread": "wandb/histogram/v0", "series": "wandb/lineseries/v0",
          "mine": "me/custom/v1"}
"""Every wandb.plot preset the sample logs (and one custom spec), by key."""


def log_charts(run: object) -> None:
    """One chart of each preset; the confusion matrix at two steps (a step picker)."""
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 300)
    guess = np.where(rng.random(300) < 0.7, truth, rng.integers(0, 3, 300))
    logits = rng.normal(0, 1, (300, 3))
    logits[np.arange(300), truth] += 1.5
    probas = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    names = list(LABELS[:3])
    xy = wandb.Table(columns=["x", "y", "group"],
                     data=[[i, math.sin(i / 3) + g, f"g{g}"] for g in range(2) for i in range(20)])
    bars = wandb.Table(columns=["label", "value"], data=[[n, i + 1] for i, n in enumerate(LABELS)])
    log = run.log  # type: ignore[attr-defined]
    log({"cm": wandb.plot.confusion_matrix(y_true=truth, preds=truth, class_names=names)})
    log({"cm": wandb.plot.confusion_matrix(y_true=truth, preds=guess, class_names=names,
                                           title="Confusion"),
         "pr": wandb.plot.pr_curve(truth, probas, labels=names),
         "roc": wandb.plot.roc_curve(truth, probas, labels=names),
         "curve": wandb.plot.line(xy, "x", "y", stroke="group", title="Sine"),
         "points": wandb.plot.scatter(xy, "x", "y", title="Points"),
         "counts": wandb.plot.bar(bars, "label", "value", title="Counts"),
         "spread": wandb.plot.histogram(xy, "y", title="Spread"),
         "series": wandb.plot.line_series([0, 1, 2, 3], [[1, 2, 3, 4], [4, 3, 2, 1]],
                                          keys=["up", "down"], title="Series", xname="epoch"),
         "mine": wandb.plot_table("me/custom/v1", bars, {"x": "label"}, {"title": "Mine"})})


def log_sample(project: str = "vision", scratch: Path | None = None) -> SampleRun:
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
        scratch_dir = scratch or Path(tempfile.mkdtemp(prefix="tablelog-sample-"))
        molecule = scratch_dir / "alanine.pdb"
        molecule.write_text(PDB)
        detections = wandb.Table(columns=["id", "image", "scores", "mp4", "webm", "html",
                                          "points", "molecule"],
                                 data=[_detection(i, molecule) for i in range(DETECTION_ROWS)])
        run.log({"detections": detections})
        for step in range(3):
            run.log({"weights": wandb.Histogram(np.random.default_rng(step).normal(
                step, 1, 1000))})
        log_charts(run)
        left = wandb.Table(columns=["id", "truth"], data=[[i, LABELS[i % 4]] for i in range(6)])
        right = wandb.Table(columns=["id", "guess"],
                            data=[[i, LABELS[(i * 3) % 4]] for i in range(2, 9)])
        art = wandb.Artifact("eval", "dataset")
        art.add(left, "truths")
        art.add(right, "guesses")
        art.add(wandb.JoinedTable("truths", "guesses", "id"), "compared")
        run.log_artifact(art)
    return SampleRun(project, run.id, "mlp-baseline")


COMPARE_ROWS = 40


def log_comparison(project: str = "compare") -> list[str]:
    """Two runs that log the same ``preds`` key (images, truth, guess, score), whose
    guesses differ on some rows and whose column sets differ (only the second has
    ``margin``), for the views that compare runs; their run ids."""
    run_ids = []
    for name, shift in (("resnet", 1), ("vit", 3)):
        columns = ["id", "image", "truth", "guess", "score"] + (["margin"] if shift == 3 else [])
        table = wandb.Table(columns=columns)
        for i in range(COMPARE_ROWS):
            truth = LABELS[i % len(LABELS)]
            guess = truth if i % (shift + 2) else LABELS[(i + shift) % len(LABELS)]
            row: list[object] = [i, wandb.Image(_picture(i)), truth, guess,
                                 round((math.cos(i * shift) + 1) / 2, 3)]
            table.add_data(*(row + ([i / 10] if shift == 3 else [])))
        with wandb.init(project=project, name=name) as run:
            run.log({"preds": table})
            run_ids.append(run.id)
    return run_ids


def sync(queue_dir: Path, base_url: str, api_key: str) -> None:
    """Upload everything queued under `queue_dir` with ``tablelog sync`` (a subprocess)."""
    tablelog = Path(sys.executable).with_name("tablelog")
    proc = subprocess.run([str(tablelog), "sync", "--dir", str(queue_dir), "--timeout", "60",
                           "--base-url", base_url], capture_output=True, text=True, timeout=120,
                          env={"TABLELOG_API_KEY": api_key, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
