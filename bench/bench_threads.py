"""What thread safety costs `run.log`, and whether it holds.

- single-threaded: µs per `run.log({5 scalars})` on the caller's thread (offline,
  a fresh interpreter per repetition, 1,000 warm-up calls), median of the
  repetitions. With ``--base SDK_DIR`` the same is measured with another copy of
  the SDK (e.g. the commit before the locks: ``git archive <commit> sdk | tar -x -C
  /tmp/base``), alternating the two so that machine load hits both alike.
- multi-threaded: `--threads` threads log `--per-thread` rows each into one run;
  the queue is then decoded and counted: values stored once, steps unique.

    python bench/bench_threads.py
    python bench/bench_threads.py --base /tmp/base/sdk --reps 7
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SDK = HERE.parent / "sdk"

WORKER = """
import json, sys, threading, time
import tablelog
mode, n, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
run = tablelog.init(project="bench", id="bench")
row = {"id": 1, "score": 0.5, "label": "abcdefghij", "flag": True, "loss": 0.25}
if mode == "single":
    for _ in range(1000):
        run.log(row)
    started, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        run.log(row)
    took, cpu = time.perf_counter() - started, time.thread_time() - cpu
    # the same process, alternating blocks: log() (lock + call) against the unlocked
    # body it wraps, where there is one: the wrapper's own cost, free of machine noise
    wrapper = {"locked": 0.0, "unlocked": 0.0}
    inner = getattr(run, "_log", None)
    if inner is not None:
        for block in range(20):  # alternate which goes first: no order bias
            pair = [("locked", run.log), ("unlocked", inner)]
            for name, call in pair if block % 2 else pair[::-1]:
                t0 = time.thread_time()
                for _ in range(n // 20):
                    call(row, None, None)
                wrapper[name] += time.thread_time() - t0
    run.finish()
    print(json.dumps({"us": 1e6 * took / n, "cpu_us": 1e6 * cpu / n,
                      "wrapper_ns": 1e9 * (wrapper["locked"] - wrapper["unlocked"]) / n}))
else:
    sys.setswitchinterval(float(sys.argv[4]))  # frequent switches: races show at this size
    def work(k):
        for i in range(n):
            run.log({"seq": k * 10_000_000 + i})
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.perf_counter() - started
    run.finish()
    print(json.dumps({"s": took}))
"""


def worker(sdk: Path, mode: str, n: int, threads: int, queue_dir: Path,
           switch: float = 0.005) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABLELOG_")}
    env.update(TABLELOG_DIR=str(queue_dir), TABLELOG_MODE="offline", PYTHONPATH=str(sdk))
    done = subprocess.run([sys.executable, "-c", WORKER, mode, str(n), str(threads),
                           str(switch)], env=env, capture_output=True, text=True, timeout=600,
                          check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def count(queue_dir: Path, sdk: Path) -> tuple[int, int, int]:
    """(rows, distinct seq values, distinct steps) in the queue, decoded by `sdk`."""
    code = """
import json, sys
from tablelog import wire
from tablelog.store.queue import Queue
seqs, steps = [], []
with Queue(sys.argv[1]) as q:
    for e in q.claim_batch(max_entries=10_000_000, max_bytes=1 << 40):
        if e.kind == "history":
            body = wire.decode_entry(e.payload).body
            seqs.append(body["row"]["seq"]); steps.append(body["step"])
print(json.dumps([len(seqs), len(set(seqs)), len(set(steps))]))
"""
    env = {**os.environ, "PYTHONPATH": str(sdk)}
    done = subprocess.run([sys.executable, "-c", code, str(queue_dir)], env=env,
                          capture_output=True, text=True, timeout=600, check=True)
    rows, values, steps = json.loads(done.stdout)
    return int(rows), int(values), int(steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, help="another SDK directory to compare with")
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--per-thread", type=int, default=500)
    parser.add_argument("--switch-interval", type=float, default=1e-5,
                        help="sys.setswitchinterval for the threaded part")
    args = parser.parse_args(argv)
    sdks = {"this": SDK} | ({"base": args.base.resolve()} if args.base else {})
    times: dict[str, list[float]] = collections.defaultdict(list)
    cpu: dict[str, list[float]] = collections.defaultdict(list)
    wrapper: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        root = Path(tmp)
        for rep in range(args.reps):
            for name, sdk in sdks.items():
                result = worker(sdk, "single", args.calls, 1, root / f"{name}-s{rep}")
                times[name].append(result["us"])
                cpu[name].append(result["cpu_us"])
                if name == "this":
                    wrapper.append(result["wrapper_ns"])
        print(f"single-threaded run.log, {args.calls:,} calls x {args.reps} runs "
              "(median us/call wall, min-max; CPU of the calling thread):")
        for name, values in times.items():
            print(f"  {name:5s} {statistics.median(values):6.2f}  "
                  f"({min(values):.2f}-{max(values):.2f})  cpu {statistics.median(cpu[name]):.2f}"
                  f"  [{sdks[name]}]")
        print(f"  the lock around log (same process, alternating blocks): "
              f"{statistics.median(wrapper):+.0f} ns/call (median of {len(wrapper)})")
        if "base" in times:
            for label, data in (("wall", times), ("cpu", cpu)):
                ratio = statistics.median(data["this"]) / statistics.median(data["base"])
                print(f"  this / base ({label}): {ratio:.3f}")
        total = args.threads * args.per_thread
        print(f"{args.threads} threads x {args.per_thread} run.log calls ({total:,} rows):")
        for name, sdk in sdks.items():
            q = root / f"{name}-threads"
            took = worker(sdk, "threads", args.per_thread, args.threads, q,
                          args.switch_interval)["s"]
            rows, values, steps = count(q, sdk)
            print(f"  {name:5s} {took:5.2f} s; rows {rows:,}, distinct values {values:,} "
                  f"(lost {total - values:,}), distinct steps {steps:,} "
                  f"(repeated {rows - steps:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
