"""A PyTorch training loop on the GPU with and without tablelog logging.

Standalone: needs only torch (with CUDA) and tablelog, so it can run on a GPU
machine that has neither wandb nor the rest of the benchmarks. tablelog runs
offline (``TABLELOG_MODE=offline``) with ``TABLELOG_DIR`` in a temporary
directory. Without a usable GPU it prints ``skipped: no GPU`` and exits 0.

The loop: a small convolutional network (3 conv layers + linear head) on
synthetic 64x64 RGB batches, SGD, ``--steps`` timed steps after 20 warm-up
steps. Variants, each repetition a fresh process:

- ``bare``:     the loop, no host synchronisation until the end;
- ``item``:     the loop plus ``loss.item()`` every step (what reading the
  loss for logging costs without any logging library);
- ``tablelog``: ``run.log({"loss": loss.item(), "lr": lr})`` every step and,
  every 50 steps, a 32-row table (id, ``Image`` of the input, prediction,
  label) in the same ``run.log`` call.

    python bench/bench_gpu.py --json OUT.json [--steps 500] [--reps 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "sdk") not in sys.path:  # a checkout where tablelog is not installed
    sys.path.append(str(REPO_ROOT / "sdk"))
SECTION = "## GPU training loop"
VARIANTS = ("bare", "item", "tablelog")
WARMUP, EVERY, TABLE_ROWS, BATCH = 20, 50, 32, 256


def gpu_available() -> tuple[bool, str]:
    """(True, device name) when torch imports and sees a CUDA device."""
    try:
        import torch
    except Exception as exc:  # no torch, or a broken install: the same for us
        return False, f"torch not importable ({type(exc).__name__})"
    if not torch.cuda.is_available():
        return False, "torch sees no CUDA device"
    return True, torch.cuda.get_device_name(0)


def work(variant: str, steps: int) -> dict[str, Any]:
    """One repetition of one variant; runs in a fresh process."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(128, 256, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10)).to(dev)
    lr = 0.05
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    xs = torch.rand(8, BATCH, 3, 64, 64, device=dev)
    ys = torch.randint(0, 10, (8, BATCH), device=dev)

    lib: Any = None
    run: Any = None
    if variant == "tablelog":
        import tablelog as lib

        run = lib.init(project="bench-gpu")

    def step(i: int) -> None:
        x, y = xs[i % 8], ys[i % 8]
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        opt.step()
        if variant == "item":
            loss.item()
        elif run is not None:
            data: dict[str, Any] = {"loss": loss.item(), "lr": lr}
            if i % EVERY == 0:
                pics = (x[:TABLE_ROWS].permute(0, 2, 3, 1) * 255).to(torch.uint8).cpu().numpy()
                preds = logits[:TABLE_ROWS].argmax(1).tolist()
                labels = y[:TABLE_ROWS].tolist()
                table = lib.Table(columns=["id", "image", "pred", "truth"])
                for k in range(TABLE_ROWS):
                    table.add_data(k, lib.Image(pics[k]), preds[k], labels[k])
                data["predictions"] = table
            run.log(data)

    for i in range(WARMUP):
        step(i)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    torch.cuda.synchronize()
    loop = time.perf_counter() - start
    finish = 0.0
    if run is not None:
        t0 = time.perf_counter()
        run.finish()
        finish = time.perf_counter() - t0
    return {"loop_s": loop, "step_ms": loop / steps * 1e3, "finish_s": finish}


def run_variant(variant: str, steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tablelog-bench-gpu-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABLELOG_")}
        env.update(TABLELOG_MODE="offline", TABLELOG_DIR=str(Path(tmp) / "tablelog"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "sdk"),
                                                          os.environ.get("PYTHONPATH")]))
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker",
                               variant, str(steps)], capture_output=True, text=True, env=env,
                              check=False, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-4:]
        raise RuntimeError(f"{variant} failed (exit {done.returncode}): " + " | ".join(tail))
    out: dict[str, Any] = json.loads(lines[-1])
    return out


def measure(steps: int, reps: int) -> dict[str, Any]:
    ok, device = gpu_available()
    result: dict[str, Any] = {"date": dt.date.today().isoformat(), "steps": steps,
                              "reps": reps, "machine": f"{platform.platform()}, "
                              f"{os.cpu_count()} CPUs, Python {platform.python_version()}"}
    if not ok:
        result["skipped"] = f"skipped: no GPU ({device})"
        return result
    import torch

    result.update(device=device, torch=torch.__version__,
                  tablelog=_version("tablelog"), numpy=_version("numpy"))
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for rep in range(reps):
        for variant in VARIANTS:  # interleaved
            try:
                out = run_variant(variant, steps)
            except RuntimeError as exc:
                result["error"] = str(exc)
                return result
            runs[variant].append(out)
            print(f"  rep {rep + 1}/{reps} {variant:9} {out['step_ms']:.3f} ms/step",
                  file=sys.stderr, flush=True)
    summary: dict[str, Any] = {}
    for variant, outs in runs.items():
        ms = [o["step_ms"] for o in outs]
        summary[variant] = {"step_ms": ms, "median": statistics.median(ms), "min": min(ms),
                            "max": max(ms),
                            "finish_s": statistics.median(o["finish_s"] for o in outs)}
    result["variants"] = summary
    bare, item = summary["bare"]["median"], summary["item"]["median"]
    ours = summary["tablelog"]["median"]
    result["ratio_vs_bare"] = ours / bare
    result["ratio_vs_item"] = ours / item
    return result


def _version(name: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        mod = __import__(name)
        return str(getattr(mod, "__version__", "?"))


def render(result: dict[str, Any], command: str) -> str:
    """The markdown section for docs/benchmarks.md."""
    lines = [SECTION, ""]
    if "skipped" in result:
        return "\n".join([*lines, result["skipped"] + "."]) + "\n"
    if "error" in result:
        return "\n".join([*lines, f"Failed: {result['error']}"]) + "\n"
    lines += [
        f"Measured by `{command}` on {result['date']}: {result['device']}, torch "
        f"{result['torch']}, tablelog {result['tablelog']} (offline), {result['machine']}.",
        "",
        f"A small CNN (3 conv layers + linear head, batch {BATCH} of 64x64 RGB, SGD) for "
        f"{result['steps']} timed steps after {WARMUP} warm-up steps. **bare**: no host "
        "synchronisation until the end; **item**: plus `loss.item()` every step (reading "
        "the loss, without a logging library); **tablelog**: `run.log({loss, lr})` every "
        f"step and a {TABLE_ROWS}-row table with images every {EVERY} steps. Median of "
        f"{result['reps']} repetitions (each a fresh process, variants interleaved), "
        "fastest and slowest in brackets.",
        "",
        "| variant | ms / step | vs bare | vs item | finish() |",
        "|---|---|---|---|---|",
    ]
    v = result["variants"]
    for name in VARIANTS:
        s = v[name]
        lines.append(f"| {name} | {s['median']:.3f} ({s['min']:.3f}–{s['max']:.3f}) | "
                     f"{s['median'] / v['bare']['median']:.3f}x | "
                     f"{s['median'] / v['item']['median']:.3f}x | "
                     + (f"{s['finish_s'] * 1e3:.0f} ms |" if name == "tablelog" else "— |"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--steps", type=int, default=500, help="timed steps (%(default)s)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (%(default)s)")
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "STEPS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(work(args.worker[0], int(args.worker[1]))))
        return 0
    result = measure(args.steps, args.reps)
    command = "python bench/bench_gpu.py" + (f" --steps {args.steps}" if args.steps != 500
                                             else "")
    result["command"] = command
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(result.get("skipped") or render(result, command))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
