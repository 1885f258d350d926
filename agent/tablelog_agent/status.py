"""`tablelog status`: what is queued, what died, what the agent is doing, whether the
server answers. Plain blocking code (urllib for the health check); never shows
the API key: the agent state holds none and URLs are printed without userinfo.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tablelog import wire
from tablelog.runtime.lifetime import open_run_processes
from tablelog.settings import DEFAULT_CACHE_MAX_BYTES, size_from_env
from tablelog.store.blobgc import disk_use
from tablelog.store.queue import Queue
from tablelog_agent.config import redact_url
from tablelog_agent.lock import lock_holder

DEAD_LETTERS_SHOWN = 100  # the JSON carries at most this many, the text fewer
RUNS_SHOWN = 10  # the runs updated last


def pid_alive(pid: int | None) -> bool:
    """True when a process with this pid exists (signal 0 probes without touching it)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def check_server(base_url: str, timeout: float = 2.0) -> dict[str, Any]:
    """GET /healthz with a short timeout; {"url", "ok", "error"?}."""
    url = redact_url(base_url)
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/healthz", timeout=timeout) as r:
            ok = r.status == 200
            return {"url": url, "ok": ok, **({} if ok else {"error": f"HTTP {r.status}"})}
    except urllib.error.HTTPError as exc:
        return {"url": url, "ok": False, "error": f"HTTP {exc.code}"}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return {"url": url, "ok": False, "error": str(reason) or type(exc).__name__}


def gather_status(directory: Path, base_url: str | None, *, timeout: float = 2.0
                  ) -> dict[str, Any]:
    """Everything `tablelog status` shows, as JSON-able data."""
    now = time.time()
    out: dict[str, Any] = {"dir": str(directory), "queue": None, "agent": None}
    if (directory / "queue.db").exists():
        with Queue(directory) as queue:
            stats = queue.stats()
            dead = queue.dead_letters()
            state = queue.agent_state()
            queue_id = queue.queue_id
            disk = disk_use(queue)
            runs = run_views(queue)
        out["queue"] = {
            "id": queue_id,
            "pending": stats.pending,
            "pending_bytes": stats.pending_bytes,
            "oldest_age_s": None if stats.oldest_created is None
            else max(0.0, now - stats.oldest_created),
            "dead": stats.dead,
            "dead_letters": [
                {"id": d.id, "run": d.run, "kind": d.kind, "reason": d.reason,
                 "attempts": d.attempts, "dead_at": d.dead_at, "size": d.size}
                for d in dead[:DEAD_LETTERS_SHOWN]],
        }
        out["runs"] = runs
        out["agent"] = _agent_view(directory, state, now)
        # The bound the agent applies (it may run with another environment than ours).
        bound = state.get("cache_max_bytes")
        disk["cache_max_bytes"] = bound if isinstance(bound, int) else _cache_bound_from_env()
        disk["last_gc_at"] = state.get("last_gc_at")
        disk["gc_deleted_bytes"] = state.get("gc_deleted_bytes")
        out["disk"] = disk
    if base_url:
        out["server"] = check_server(base_url, timeout)
    return out


def run_views(queue: Queue, limit: int = RUNS_SHOWN) -> list[dict[str, Any]]:
    """The runs logged into this directory last, each with how it stands: the end its
    process recorded (finished, failed, preempted, killed, with the exit code), open in
    a live process, or gone without an end (killed by SIGKILL, the node lost)."""
    processes = open_run_processes(queue)
    views = []
    for key, raw, updated in queue.recent_run_states(limit):
        try:
            saved = wire.unpackb(raw)
        except Exception:  # state of an unknown format: show the run all the same
            saved = {}
        saved = saved if isinstance(saved, dict) else {}
        end = saved.get("end")
        procs = processes.get(key, [])
        live = [p for p in procs if p[2] is not False]
        view: dict[str, Any] = {"run": key, "step": saved.get("step"), "updated": updated,
                                "state": None, "exit_code": None, "pids": []}
        if live:  # open again (a resumed run) counts over an earlier end
            view["state"] = "running"
            view["pids"] = [{"pid": pid, "host": host, "checked": alive is not None}
                            for pid, host, alive in live]
        elif isinstance(end, dict):
            view["state"], view["exit_code"] = end.get("state"), end.get("exit_code")
        else:
            view["state"] = "no end recorded"
        views.append(view)
    return views


def _cache_bound_from_env() -> int | None:
    try:
        return size_from_env(os.environ, "TABLELOG_CACHE_MAX_BYTES", DEFAULT_CACHE_MAX_BYTES)
    except ValueError:  # the agent refuses to start with it; status still shows the rest
        return None


def _agent_view(directory: Path, state: dict[str, Any], now: float) -> dict[str, Any]:
    holder = lock_holder(directory)
    pid = holder if holder else state.get("pid")
    heartbeat = state.get("heartbeat")
    view: dict[str, Any] = {
        "running": holder is not None,
        "pid": pid,
        "pid_alive": pid_alive(pid),
        "state": state.get("state") if holder is not None else "not running",
        "last_heartbeat": heartbeat,
        "heartbeat_age_s": None if not heartbeat else max(0.0, now - heartbeat),
    }
    for key in ("base_url", "started_at", "entries_acked", "bytes_acked", "blobs_uploaded",
                "blob_bytes_uploaded", "dead_lettered", "failed_attempts",
                "consecutive_failures", "requests", "last_error", "last_error_at",
                "auth_failed", "next_retry_at"):
        view[key] = state.get(key)
    return view


def format_status(status: dict[str, Any]) -> str:
    """The human-readable report."""
    lines = [f"queue dir  {status['dir']}"]
    queue = status["queue"]
    if queue is None:
        lines.append("queue      none here (nothing was logged to this directory)")
    else:
        age = queue["oldest_age_s"]
        oldest = f", oldest {_duration(age)} old" if age is not None else ""
        lines.append(f"pending    {queue['pending']:,} entries, {_size(queue['pending_bytes'])}"
                     f"{oldest}")
        lines.append(f"dead       {queue['dead']:,} entries"
                     + (" (`tablelog retry-dead` re-queues them)" if queue["dead"] else ""))
        for d in queue["dead_letters"][:10]:
            lines.append(f"  #{d['id']} {d['run']} {d['kind']}: {d['reason']}")
        if queue["dead"] > 10:
            lines.append(f"  … and {queue['dead'] - 10:,} more (--json lists up to "
                         f"{DEAD_LETTERS_SHOWN})")
    disk = status.get("disk")
    if disk is not None:
        lines.append(f"disk       {_size(disk['total_bytes'])}: blobs {_size(disk['blob_bytes'])} "
                     f"({disk['blob_files']:,} files; {_size(disk['needed_blob_bytes'])} needed "
                     f"by queued or dead entries, {_size(disk['cache_bytes'])} cache of at "
                     f"most {_bound(disk['cache_max_bytes'])}), queue.db "
                     f"{_size(disk['queue_db_bytes'])}")
    lines.extend(_format_runs(status.get("runs") or []))
    agent = status["agent"]
    if agent is not None:
        lines.extend(_format_agent(agent))
    server = status.get("server")
    if server is not None:
        answer = "answers /healthz" if server["ok"] else f"does not answer: {server['error']}"
        lines.append(f"server     {server['url']} {answer}")
    return "\n".join(lines)


def _format_runs(runs: list[dict[str, Any]]) -> list[str]:
    lines = []
    for i, run in enumerate(runs):
        state = run["state"]
        if state == "running":
            where = ", ".join(f"pid {p['pid']}" + ("" if p["checked"] else f" on {p['host']}")
                              for p in run["pids"])
            state = f"running ({where})"
        elif state == "no end recorded":
            state = "no end recorded: its process is gone (killed, or the node was lost)"
        elif run["exit_code"] is not None:
            state = f"{state} (exit code {run['exit_code']})"
        step = f"step {run['step']:,}, " if isinstance(run["step"], int) else ""
        lines.append(f"{'runs' if i == 0 else '':<10} {run['run'].lstrip('/')}: {step}{state}")
    return lines


def _format_agent(agent: dict[str, Any]) -> list[str]:
    beat = agent["heartbeat_age_s"]
    seen = f"last heartbeat {_duration(beat)} ago" if beat is not None else "no heartbeat yet"
    alive = "alive" if agent["pid_alive"] else "not alive"
    if agent["running"]:
        head = f"agent      pid {agent['pid']} ({alive}), {agent['state']}, {seen}"
    elif agent["pid"]:
        head = f"agent      not running (last was pid {agent['pid']}, {alive}; {seen})"
    else:
        head = "agent      not running (start one with `tablelog agent` or `tablelog sync`)"
    lines = [head]
    if agent.get("entries_acked") is not None:
        lines.append(f"           uploaded {agent['entries_acked']:,} entries "
                     f"({_size(agent.get('bytes_acked') or 0)}), "
                     f"{agent.get('failed_attempts') or 0} failed attempts"
                     + (f", to {agent['base_url']}" if agent.get("base_url") else ""))
    if agent.get("last_error"):
        when = agent.get("last_error_at")
        ago = f" {_duration(time.time() - when)} ago" if when else ""
        lines.append(f"last error{ago}: {agent['last_error']}")
    if agent.get("auth_failed"):
        lines.append("           the server refused the API key: data is kept; fix "
                     "TABLELOG_API_KEY and restart the agent")
    return lines


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _bound(n: int | None) -> str:
    return "? (TABLELOG_CACHE_MAX_BYTES is not a size)" if n is None else _size(n)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{seconds / 86400:.1f}d"


def to_json(status: dict[str, Any]) -> str:
    """`tablelog status --json` output."""
    return json.dumps(status, indent=2, sort_keys=True)
