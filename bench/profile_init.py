"""cProfile of init() + finish() of an empty run at two revisions: what did B add?

Each revision is unpacked like compare_revisions.py does; each profile is a fresh
interpreter of that copy (PYTHONPATH = its sdk:agent:server_stub, a fresh
TABLELOG_DIR). `import tablelog` happens before the profiler starts; the
profile covers `tablelog.init(project="bench")` and `run.finish()`. Offline:
TABLELOG_MODE=offline. Online: TABLELOG_MODE=online with TABLELOG_AGENT_AUTOSTART=0
(no agent is spawned, so what is measured is the SDK's own work) and a base URL
nobody listens on. tablelog's functions are keyed by file name without the
subpackage (runtime/runs.py and runs.py are both `tablelog/runs.py`), so the
two layouts compare; the median over the profiles is taken per function.

    python bench/profile_init.py                 # 8bb971c against HEAD, 5 profiles each
    python bench/profile_init.py --reps 9 --top 25
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_revisions import DEFAULT_BASE, Copy, check_import, unpack, warm_up

PROFILE_CODE = """
import cProfile, json, os, pstats, sys, time
import tablelog
prof = cProfile.Profile()
start = time.perf_counter()
prof.enable()
run = tablelog.init(project="bench")
run.finish()
prof.disable()
wall = time.perf_counter() - start
root = os.path.dirname(os.path.dirname(tablelog.__file__))
out = {}
for (filename, line, name), (cc, ncalls, tottime, cumtime, _) in pstats.Stats(prof).stats.items():
    if filename.startswith(root):  # by file name: the SDK's subpackages came after A
        where = "tablelog/" + os.path.basename(filename)
    elif "site-packages" in filename:
        where = "site-packages/" + filename.split("site-packages/", 1)[1]
    elif filename.startswith("~") or filename.startswith("<"):
        where = filename
    else:
        where = "stdlib/" + os.path.basename(filename)
    key = f"{where}:{name}"
    prev = out.get(key, [0, 0.0, 0.0])
    out[key] = [prev[0] + ncalls, prev[1] + tottime, prev[2] + cumtime]
print(json.dumps({"wall_s": wall, "functions": out}))
"""


def profile(copy: Copy, python: str, mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tablelog-prof-") as tmp:
        extra = {"TABLELOG_MODE": mode}
        if mode == "online":
            extra.update({"TABLELOG_AGENT_AUTOSTART": "0",
                          "TABLELOG_BASE_URL": "http://127.0.0.1:9",
                          "TABLELOG_API_KEY": "profile-key-0123456789"})
        env = copy.env(Path(tmp), extra=extra)
        done = subprocess.run([python, "-c", PROFILE_CODE], env=env, cwd=copy.root,
                              capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"{copy.label} {mode}: {done.stderr.strip()[-600:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def median_profile(copy: Copy, python: str, mode: str, reps: int) -> dict[str, Any]:
    """Per function the median over `reps` profiles of (calls, self s, cumulative s)."""
    runs = [profile(copy, python, mode) for _ in range(reps)]
    keys = {k for r in runs for k in r["functions"]}

    def med(values: list[float]) -> float:
        values = sorted(values)
        return values[len(values) // 2]

    funcs = {k: [med([r["functions"].get(k, [0, 0.0, 0.0])[i] for r in runs])
                 for i in range(3)] for k in keys}
    return {"wall_s": med([r["wall_s"] for r in runs]), "functions": funcs}


def diff(a: dict[str, Any], b: dict[str, Any], top: int, index: int) -> list[str]:
    """Functions by how much more time (index 1: self, 2: cumulative) B spends than A."""
    fa, fb = a["functions"], b["functions"]
    rows = []
    for key in set(fa) | set(fb):
        va = fa.get(key, [0, 0.0, 0.0])
        vb = fb.get(key, [0, 0.0, 0.0])
        rows.append((vb[index] - va[index], key, va, vb))
    rows.sort(key=lambda r: -r[0])
    lines = ["| function | A calls | A ms | B calls | B ms | B - A ms |",
             "|---|---|---|---|---|---|"]
    for delta, key, va, vb in rows[:top]:
        lines.append(f"| `{key}` | {va[0]:.0f} | {va[index] * 1e3:.2f} | {vb[0]:.0f} | "
                     f"{vb[index] * 1e3:.2f} | {delta * 1e3:+.2f} |")
    return lines


def top_cum(p: dict[str, Any], top: int, prefix: str = "tablelog") -> list[str]:
    rows = sorted(((v[2], k, v) for k, v in p["functions"].items()
                   if k.startswith(prefix)), reverse=True)[:top]
    return [f"| `{k}` | {v[0]:.0f} | {v[1] * 1e3:.2f} | {v[2] * 1e3:.2f} |" for _, k, v in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=DEFAULT_BASE)
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    python = sys.executable
    scratch = Path(tempfile.mkdtemp(prefix="tablelog-prof-"))
    result: dict[str, Any] = {}
    try:
        copies = [unpack("A", args.base, scratch), unpack("B", args.head, scratch)]
        for copy in copies:
            check_import(copy, python)
            warm_up(copy, python)
        for mode in ("offline", "online"):
            profs = {}
            for copy in copies:
                profs[copy.label] = median_profile(copy, python, mode, args.reps)
            a, b = profs["A"], profs["B"]
            result[mode] = profs
            print(f"\n## {mode}: init()+finish() under cProfile, median of {args.reps}: "
                  f"A {a['wall_s'] * 1e3:.1f} ms, B {b['wall_s'] * 1e3:.1f} ms\n")
            print("### B - A, self time (where B's added time is spent)\n")
            print("\n".join(diff(a, b, args.top, 1)))
            print("\n### B - A, cumulative time\n")
            print("\n".join(diff(a, b, args.top, 2)))
            for label in ("A", "B"):
                print(f"\n### {label}: tablelog functions by cumulative time\n")
                print("| function | calls | self ms | cum ms |\n|---|---|---|---|")
                print("\n".join(top_cum(profs[label], args.top)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
