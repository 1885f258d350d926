"""Reliability scenarios of the identity family (issue 12, points 8 and 9): a copied
queue directory, and a run resumed on a node that never saw it.

Each is ``fn(work, **sizes) -> Counts``, shared by tests/reliability/test_identity.py
(small sizes) and bench/reliability_report.py (full sizes). Real server and CLI
processes; everything is counted on the server through its read API.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.reliability.harness import (
    PROJECT,
    Counts,
    Harness,
    child_env,
    cli,
    get_json,
    history_rows,
    queue_state,
    tally,
    timed,
)
from tests.reliability.scenarios import log_workload

_DELIVERED = re.compile(r"delivered ([\d,]+) entries")


def _sync(directory: Path, url: str) -> tuple[int, str, int]:
    """`tablelog sync` as a process: exit status, its output, entries it says it delivered."""
    done = cli("sync", "--dir", str(directory), "--timeout", "60", "--no-progress",
               env=child_env(directory, url), timeout=300)
    found = _DELIVERED.search(done.stderr + done.stdout)
    return done.returncode, done.stderr[-1500:], int(found.group(1).replace(",", "")) if found \
        else -1


def _post_batch(url: str, queue_id: str, entry_id: int, data: bytes) -> str:
    from tablelog import wire
    from tests.conftest import API_KEY

    request = urllib.request.Request(
        f"{url}/api/v1/batches", data=wire.encode_batch(queue_id, [(entry_id, data)]),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/msgpack"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return str(json.loads(r.read())["results"][0]["status"])


def copied_dir(work: Path, *, rows: int = 100) -> Counts:
    """A queue directory A holds `rows` pending rows of run pre00 and is copied twice
    (shutil.copytree): B, a copy that is detected (another inode), and C, a copy
    made to look like the original (its recorded identity rewritten: an undetected
    clone, e.g. a restored snapshot). Each then logs `rows` rows of its own run
    (a00, b00, c00); A, B and C are synced with `tablelog sync` in that order. B's
    new entries go under a new queue id and are all stored; C's reuse A's keys with
    other bytes: the server answers `conflict`, sync exits 1, says they were NOT
    stored and never counts them as delivered; `tablelog retry-dead` then sends
    them under a new queue id and they are stored. pre00, sent by all three, is
    stored once."""
    from tablelog.store.identity import dir_identity
    from tablelog.store.queue import Queue

    c = Counts("15a. copied queue directory")
    with Harness(work) as h, timed(c):
        srv = h.server()
        a, b, cc = work / "node-a", work / "node-b", work / "node-c"
        pre = log_workload(a, 1, rows, media_every=10, prefix="pre")
        shutil.copytree(a, b)
        shutil.copytree(a, cc)
        with sqlite3.connect(cc / "queue.db") as conn:  # an undetected clone of A
            conn.execute("UPDATE meta SET value = ? WHERE key = 'dir_identity'",
                         (dir_identity(cc / "queue.db"),))
        with Queue(a) as qa, Queue(b) as qb, Queue(cc) as qc:
            c.check(qb.queue_id != qa.queue_id and getattr(qb, "copied_from", None) == qa.queue_id,
                    "the detected copy gets a new queue id for new entries",
                    (qa.queue_id, qb.queue_id))
            c.check(qc.queue_id == qa.queue_id, "the undetected clone keeps A's queue id",
                    (qa.queue_id, qc.queue_id))
            original_qid = qa.queue_id
        sent = dict(pre.sent)
        for directory, prefix in ((a, "a"), (b, "b"), (cc, "c")):
            w = log_workload(directory, 1, rows, media_every=10, seed=ord(prefix),
                             prefix=prefix)
            sent.update(w.sent)
        status_a, out_a, _ = _sync(a, srv.url)
        c.check(status_a == 0, "the original syncs (exit 0)", out_a)
        status_b, out_b, delivered_b = _sync(b, srv.url)
        state_b = queue_state(b)
        c.check(status_b == 0 and state_b["dead"] == 0 and state_b["pending"] == 0,
                "the detected copy syncs everything (exit 0, nothing dead)", out_b)
        pending_c = queue_state(cc)["pending"]
        status_c, out_c, delivered_c = _sync(cc, srv.url)
        state_c = queue_state(cc)
        conflicts = [d for d in state_c["dead_letters"] if d.reason.startswith("conflict")]
        c.check(status_c == 1 and "NOT stored" in out_c,
                "the undetected clone: sync exits 1 and says entries were NOT stored", out_c)
        c.check(len(conflicts) == state_c["dead"] > 0 and delivered_c + state_c["dead"]
                == pending_c, "its conflicts are dead-lettered, never counted as delivered",
                f"{pending_c} pending, {delivered_c} said delivered, {state_c['dead']} dead, "
                f"{len(conflicts)} conflicts")
        c.note(f"the undetected clone: {len(conflicts)} of {pending_c} entries were "
               f"conflicts (its own), {delivered_c} duplicates of what A sent (pre-copy)")
        # the same key, other bytes, straight at the real server
        from tablelog import wire

        forged = wire.encode_entry(wire.Kind.HISTORY, entity=None, project=PROJECT,
                                   run_id="a00", body={"step": 0, "row": {"seq": -1}})
        c.check(_post_batch(srv.url, original_qid, 1, forged) == "conflict",
                "the server answers `conflict` to a replayed key with other bytes")
        again = cli("retry-dead", "--dir", str(cc), env=child_env(cc, srv.url), timeout=120)
        c.check(again.returncode == 0, "retry-dead re-queues the conflicts", again.stderr)
        status_c2, out_c2, _ = _sync(cc, srv.url)
        state_c = queue_state(cc)
        c.check(status_c2 == 0 and state_c["dead"] == 0 and state_c["pending"] == 0,
                "after retry-dead they are delivered under a new queue id", out_c2)
        tally(c, srv.url, sent)
        c.requests = None
        c.done = (f"{rows} pending rows copied to 2 dirs (1 detected, 1 an undetected clone), "
                  f"then {rows} new rows in each of 3 dirs, all synced")
        c.note(f"sync said delivered: A {_sync_count(out_a)}, B {delivered_b}, "
               f"C {delivered_c} then the rest after retry-dead")
    return c


def _sync_count(out: str) -> int:
    found = _DELIVERED.search(out)
    return int(found.group(1).replace(",", "")) if found else -1


# -- 9. resume on another node ---------------------------------------------------------------

RESUMER = """
import json, sys, time, warnings
import tablelog
from tablelog.errors import RunError
run_id, resume, start, rows, config = sys.argv[1], sys.argv[2], int(sys.argv[3]), \\
    int(sys.argv[4]), json.loads(sys.argv[5])
caught = []
t0 = time.monotonic()
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    try:
        run = tablelog.init(project="{project}", id=run_id, resume=resume, config=config)
    except RunError as exc:
        print(json.dumps({{"error": str(exc)}}))
        sys.exit(0)
    caught = [str(x.message) for x in w if "tablelog" in str(x.message)]
init_s = time.monotonic() - t0
at_init = {{"step": run.step, "resumed": run.resumed, "config": dict(run.config.as_dict()),
           "summary": {{k: run.summary[k] for k in run.summary}}}}
for i in range(rows):
    run.log({{"seq": start + i, "loss": 1.0 / (start + i + 1)}})
run.summary["node_" + run_id + str(start)] = start
run.finish()
print(json.dumps({{"at_init": at_init, "warnings": caught, "init_s": init_s}}, default=str))
"""


def _resume(directory: Path, url: str, *, mode: str, resume: str, start: int, rows: int,
            config: dict[str, Any], run_id: str = "res00") -> dict[str, Any]:
    env = child_env(directory, url, TABLELOG_MODE=mode, TABLELOG_AGENT_AUTOSTART="0",
                    TABLELOG_RESUME_TIMEOUT="3")
    done = subprocess.run([sys.executable, "-c", RESUMER.format(project=PROJECT), run_id,
                           resume, str(start), str(rows), json.dumps(config)],
                          env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr[-800:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def resume_elsewhere(work: Path, *, rows: int = 100) -> Counts:
    """Run res00 logs `rows` rows on node A (config lr/layers, a summary key) and is
    synced. Node B, an empty TABLELOG_DIR, resumes it online (resume="allow"): it
    starts at the server's next step, with its config and summary. Node C, another
    empty dir, resumes it offline (the server cannot be asked): one warning at
    init; once synced, the server has continued the steps after its last one and
    kept every config and summary key. Node D resumes with the server unreachable
    (a closed port): init stays bounded by TABLELOG_RESUME_TIMEOUT and warns. As
    wandb: resume="never" on the existing run and resume="must" on a missing one
    raise at init."""
    from tests.conftest import ENTITY, free_port

    c = Counts("15b. resume on another node")
    with Harness(work) as h, timed(c):
        srv = h.server()
        seqs: list[int] = []
        a = _resume(work / "node-a", srv.url, mode="offline", resume="allow", start=0,
                    rows=rows, config={"lr": 0.1, "layers": 4})
        seqs += range(0, rows)
        status, out, _ = _sync(work / "node-a", srv.url)
        c.check(status == 0 and "error" not in a, "node A logged and synced", (a, out))

        b = _resume(work / "node-b", srv.url, mode="online", resume="allow", start=rows,
                    rows=rows, config={"batch": 64})
        at = b.get("at_init", {})
        c.check(at.get("resumed") is True and at.get("step") == rows,
                "online resume from an empty dir starts at the server's next step",
                b)
        c.check(at.get("config", {}).get("lr") == 0.1 and at.get("config", {}).get("batch")
                == 64, "online resume: the server's config, with the new keys", at)
        c.check(not b.get("warnings"), "online resume: no warning", b.get("warnings"))
        seqs += range(rows, 2 * rows)
        status, out, _ = _sync(work / "node-b", srv.url)
        c.check(status == 0, "node B synced", out)

        offline = _resume(work / "node-c", srv.url, mode="offline", resume="allow",
                          start=2 * rows, rows=rows, config={"extra": 1})
        c.check(len(offline.get("warnings", [])) == 1
                and "without knowing its state" in offline["warnings"][0],
                "offline resume from an empty dir: one warning at init", offline)
        seqs += range(2 * rows, 3 * rows)
        status, out, _ = _sync(work / "node-c", srv.url)
        c.check(status == 0, "node C synced", out)

        dead_url = f"http://127.0.0.1:{free_port()}"
        d = _resume(work / "node-d", dead_url, mode="online", resume="allow", start=0,
                    rows=0, config={})
        c.check(len(d.get("warnings", [])) == 1 and float(d.get("init_s", 99)) < 3 + 10,
                "server unreachable: init bounded by TABLELOG_RESUME_TIMEOUT, one warning", d)
        c.note(f"init with the server unreachable took {float(d.get('init_s', 0)):.2f} s "
               "(TABLELOG_RESUME_TIMEOUT=3)")

        never = _resume(work / "node-e", srv.url, mode="online", resume="never", start=0,
                        rows=0, config={})
        c.check(never.get("error") == "resume='never' but run (res00) exists",
                "resume='never' on a run the server has: wandb's error", never)
        must = _resume(work / "node-e", srv.url, mode="online", resume="must", start=0,
                       rows=0, config={}, run_id="absent0")
        c.check(must.get("error") == "resume='must' but run (absent0) doesn't exist",
                "resume='must' on a run nobody has: wandb's error", must)

        tally(c, srv.url, {"res00": seqs})
        steps = [r["_step"] for r in history_rows(srv.url, PROJECT, "res00")]
        c.check(steps == list(range(3 * rows)), "the server's steps run 0..3n-1, no rewind",
                f"{steps[:3]}…{steps[rows - 1:rows + 2]}…{steps[2 * rows - 1:2 * rows + 2]}")
        run = get_json(srv.url, f"/api/v1/runs/{ENTITY}/{PROJECT}/res00")
        keys = {"lr", "layers", "batch", "extra"}
        c.check(keys <= set(run["config"]), "every node's config keys are kept",
                run["config"])
        nodes = {f"node_res00{s}" for s in (0, rows, 2 * rows)}
        c.check(nodes <= set(run["summary"]), "every node's summary keys are kept",
                sorted(run["summary"]))
        c.done = (f"{rows} rows on node A, then resumed from empty dirs: {rows} online "
                  f"(B), {rows} offline (C), plus unreachable/never/must checks")
    return c
