"""`tablelog sync --progress` against a real server (issue 14.3): one measure (the bytes
of delivered entries, which move with the entries), decimal units as the summary line
prints them, and a rate that is the upload's, not a spike when a batch is acknowledged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from agent_helpers import artifact_entry, cli_env, fill, run_cli

from tablelog.store.queue import Queue

FRAME = re.compile(
    r"sync:\s+(\d+)%\|[^|]*\| ([\d.]+)([kMG]?)B/([\d.]+)([kMG]?)B "
    r"\[[^,\]]*, ([\d.]+|\?)([kMG]?)B/s(?:, ([\d,]+)/([\d,]+) entries)?[^\]]*\]")
SUMMARY = re.compile(r"delivered ([\d,]+) entries \(([\d.]+) MB\) in [\d.]+s "
                     r"\([\d,]+ entries/s, ([\d.]+) MB/s\)")
SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}


def _frames(stderr: str) -> list[tuple[Any, ...]]:
    found = []
    for piece in re.split(r"[\r\n]", stderr):
        m = FRAME.search(piece)
        if m:
            found.append(m.groups())
    return found


def test_progress_bar_agrees_with_entries_and_the_summary(tmp_path: Path,
                                                          live_server: Any) -> None:
    q = tmp_path / "q"
    fill(q, "proj", ["r1", "r2"], 2_000)
    with Queue(q) as queue:
        for i in range(8):
            queue.put(*_as_put(artifact_entry(queue, "proj", "r1", f"samples{i}",
                                              {"x.bin": os.urandom(400_000)})))
    done = run_cli("sync", "--dir", str(q), "--progress", env=cli_env(tmp_path / "x",
                                                                      live_server.url))
    assert done.returncode == 0, done.stderr
    summary = SUMMARY.search(done.stderr)
    assert summary, done.stderr
    entries, mb, rate = int(summary[1].replace(",", "")), float(summary[2]), float(summary[3])
    frames = _frames(done.stderr)
    assert frames, done.stderr
    assert "MiB" not in done.stderr and "KiB" not in done.stderr
    for percent, n, _n_unit, _total, _t_unit, _rate, _r_unit, done_e, total_e in frames:
        # one measure: no bytes counted for entries not yet delivered, and back
        if done_e is not None:
            assert (float(n) == 0) == (done_e == "0"), frames
            assert (percent == "100") == (done_e == total_e), frames
    last = frames[-1]
    assert last[0] == "100" and last[7] == last[8] == f"{entries:,}"
    shown_mb = float(last[1]) * SCALE[last[2]] / 1e6
    assert abs(shown_mb - mb) <= max(0.06, 0.01 * mb), (last, mb)  # decimal MB, as summary
    assert last[5] not in (None, "?")
    shown_rate = float(last[5]) * SCALE[last[6]] / 1e6
    # the bar's rate is the average the summary prints (the bar starts a little later)
    assert 0.5 * rate <= shown_rate <= 2.0 * rate + 0.1, (last, rate)


def _as_put(entry: Any) -> tuple[str, str, bytes, tuple[str, ...], int]:
    return entry.run, entry.kind, entry.payload, tuple(entry.blobs), entry.blob_bytes
