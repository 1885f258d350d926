"""The background writer thread: turns what `run.log` handed off into durable
queue entries and blobs.

Hand-off policy (the only place the training thread can ever wait): requests
go into an in-memory deque bounded by a budget in *bytes* (TABLELOG_MAX_PENDING_BYTES,
256 MiB by default): what each request holds until it is written, read off sizes
without encoding (media pixels, samples and file bytes; CELL_BYTES per table cell
or row value; REQUEST_BYTES per request). A request's bytes are given back once
its group is committed and the writer has let go of it, so the memory held by
logged values stays under the budget plus one request. While the writer keeps
up, `submit` never waits. If training produces data faster than the disk
absorbs it and the budget is spent, `submit` waits for the writer to free room
(backpressure, like Vector's `block`), warning once; nothing is ever dropped to
make room. A single request larger than the whole budget is admitted when
nothing else is pending or being written.

Group commit: the writer takes everything queued (up to a bound), writes blobs,
and commits all entries in one SQLite transaction (one fsync). `flush()`
returns once a commit covering everything submitted before it is durable.

Commits are also bounded in bytes (GROUP_MAX_BYTES): a bounded `close()` that runs
out of time loses at most what one commit was writing, and names it (see
`writer_stop`).

Failures never reach training: a request that cannot be encoded or persisted
(disk full, queue cap) is reported once as a warning and recorded in
`not_persisted`, and the writer goes on with the next. Those are expected
conditions; any other exception is a bug in tablelog: its traceback is logged
(logger ``tablelog``, once per distinct error) as well.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tablelog import wire
from tablelog.artifacts.artifact import (
    Artifact,
    PendingFile,
    PendingJoined,
    PendingMedia,
    PendingReference,
    PendingTable,
)
from tablelog.artifacts.entry import REFERENCE_KIND
from tablelog.artifacts.reader import LocalBlobSource
from tablelog.errors import QueueFullError, TablelogError
from tablelog.runtime.shared_run import SharedCommit
from tablelog.runtime.snapshot import WrittenChunk, held_bytes, log_state, write_snapshot
from tablelog.runtime.writer_stop import WriterStop, report_bug
from tablelog.settings import DEFAULT_MAX_PENDING_BYTES
from tablelog.store.queue import LocalArtifact, NewEntry, Queue

log = logging.getLogger("tablelog")

MAX_PENDING_BYTES = DEFAULT_MAX_PENDING_BYTES  # held in memory before submit() waits
CELL_BYTES = 64  # a table cell or row value: the object plus its encoding, about
REQUEST_BYTES = 256  # a request's own objects
_NUMBERS = frozenset({int, float, bool, type(None)})
MAX_GROUP = 4096  # requests per commit
GROUP_MAX_BYTES = 8 << 20  # bytes (blobs + entries) after which a commit takes no more requests
COMMIT_DELAY_S = 0.05  # how long the writer gathers requests before committing
_SEGMENTED = frozenset({wire.Kind.RUN, wire.Kind.HISTORY, wire.Kind.CONFIG, wire.Kind.SUMMARY})


@dataclass(frozen=True)
class RunIdentity:
    entity: str | None
    project: str
    run_id: str

    @property
    def key(self) -> str:
        return f"{self.entity or ''}/{self.project}/{self.run_id}"


def _end_of(run_end: dict[str, Any]) -> dict[str, Any]:
    """How a run ended, from its run_end body, as saved in the run's state."""
    return {k: run_end.get(k) for k in ("state", "exit_code", "ended_at")}


@dataclass
class TableLog:
    """One table (or joined table) value of a logged row."""

    key: str
    table: Any
    artifact: Artifact | None  # None: the table is unchanged, reuse its last ref
    kind: str = "table"
    incremental: bool = False


@dataclass
class LogRequest:
    step: int
    row: dict[str, Any]
    tables: list[TableLog] = field(default_factory=list)


@dataclass
class ArtifactRequest:
    artifact: Artifact
    aliases: list[str]


@dataclass
class EntryRequest:
    """A run/summary/config/run_end entry whose body is ready."""

    kind: wire.Kind
    body: dict[str, Any]


@dataclass
class FlushRequest:
    done: threading.Event = field(default_factory=threading.Event)


Request = LogRequest | ArtifactRequest | EntryRequest | FlushRequest


def yield_gil() -> None:
    """Let the training thread run. Without it, a writer busy encoding holds the GIL
    for a whole switch interval (5 ms) each time training wants it back after a
    numpy call; a zero sleep between work items hands it over at once."""
    time.sleep(0)


def _cost(req: Request) -> int:
    """Bytes `req` holds in memory until written (an estimate made of sizes: no
    encoding, no copy; for tables O(new rows) of the columns that may hold media)."""
    if isinstance(req, LogRequest):
        n = REQUEST_BYTES
        for v in req.row.values():  # numbers first: they are most of what training logs
            n += CELL_BYTES if type(v) in _NUMBERS else _value_bytes(v)
        for t in req.tables:
            if t.artifact is not None:
                n += _artifact_bytes(t.artifact)
        return n
    if isinstance(req, ArtifactRequest):
        return REQUEST_BYTES + _artifact_bytes(req.artifact)
    return REQUEST_BYTES


def _value_bytes(value: Any) -> int:
    """Bytes a logged row value holds: media by their sizes, strings and arrays by
    their lengths, anything else as one cell."""
    if getattr(value, "_kind", None) is not None:
        return held_bytes(value)
    if isinstance(value, str | bytes):
        return CELL_BYTES + len(value)
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return CELL_BYTES + nbytes
    if isinstance(value, list | tuple):
        if value and getattr(value[0], "_kind", None) is not None:
            return sum(held_bytes(v) for v in value)
        return CELL_BYTES * (1 + len(value))
    if isinstance(value, dict):
        return CELL_BYTES * (1 + len(value))
    return CELL_BYTES


def _artifact_bytes(art: Artifact) -> int:
    """Bytes an artifact's pending entries hold. Files added with `add_file` count as
    one cell: the writer streams them from disk, they are not in memory."""
    n = 0
    for p in art._pending.values():
        if isinstance(p, PendingTable):
            n += CELL_BYTES * p.snapshot.new_cells + p.snapshot.media_bytes()
        elif isinstance(p, PendingMedia):
            n += held_bytes(p.value)
        else:
            n += CELL_BYTES
    return n


class Writer(WriterStop):
    """Owns the background thread that persists one run's data."""

    def __init__(self, queue: Queue, run: RunIdentity, *, state: dict[str, Any] | None = None,
                 max_pending_bytes: int = MAX_PENDING_BYTES, shared: bool = False,
                 save_state: bool = True,
                 after_commit: Callable[[Queue, list[NewEntry]], None] | None = None) -> None:
        self.queue = queue
        # called on the writer thread after each commit (tablelog.runtime.lifetime.AgentKeeper)
        self.after_commit = after_commit
        self.run = run
        self.not_persisted: list[str] = []
        self.summary: dict[str, Any] = dict((state or {}).get("summary") or {})
        self.incremental: dict[str, dict[str, Any]] = dict((state or {}).get("incremental") or {})
        # a run resumed where the server's state was unknown (tablelog.runtime.resume): its
        # history, config, summary and run entries name the segment
        self.segment: str | None = (state or {}).get("segment")
        self._state_extra: dict[str, Any] = {}
        self._max_cost = max_pending_bytes
        self._pending: collections.deque[tuple[Request, int]] = collections.deque()
        self._cost = 0  # bytes of the requests pending and of the group being written
        self._taken = 0  # of which the group being written
        self._cond = threading.Condition()
        self._closed = False
        self._urgent = 0  # flushes waiting in _pending: commit without gathering more
        self._warned: set[str] = set()
        self._summary_dirty = False
        self._touched: list[str] = []  # blobs written (unsynced) for the current group
        # a run shared with forked processes: steps and summary are decided in queue.db
        self.shared: SharedCommit | None = None
        self._share_requested = shared
        self._save_state = save_state  # False in a forked child: the run state is the parent's
        self._group_bytes = 0  # bytes written for the current group (GROUP_MAX_BYTES)
        self._init_stop()
        self._thread = threading.Thread(target=self._loop, name="tablelog-writer", daemon=True)
        self._thread.start()

    # -- the training thread's side ---------------------------------------------

    def submit(self, req: Request, state: dict[str, Any] | None = None) -> None:
        """Hand a request to the writer; waits only when the cost budget is spent.
        `state`: run state to save with the next commit, as `set_state` (in the same
        lock: a training loop's log pays for one acquisition, not two)."""
        cost = _cost(req)
        with self._cond:
            if self._closed:
                raise TablelogError("this run has finished; start a new one with tablelog.init()")
            if state is not None:
                self._state_extra.update(state)
            if self._cost + cost > self._max_cost and self._cost:
                self._warn_once("backpressure",
                                "tablelog: logging is outpacing the disk; log() waits for the "
                                "background writer to catch up (nothing is dropped)")
                while self._cost + cost > self._max_cost and self._cost:
                    self._cond.wait(1.0)
            self._pending.append((req, cost))
            self._cost += cost
            urgent = isinstance(req, FlushRequest)
            self._urgent += urgent
            # Wake the writer only when it has something new to decide: its first
            # request, a flush, or a full group. Waking it on every log would make the
            # two threads trade the GIL at each step of a training loop.
            if len(self._pending) == 1 or urgent or len(self._pending) >= MAX_GROUP:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything submitted so far is durable; False on timeout."""
        req = FlushRequest()
        self.submit(req)
        return req.done.wait(timeout)

    def set_state(self, **values: Any) -> None:
        """Extra run state (step, config, name) saved with the next commit."""
        with self._cond:
            self._state_extra.update(values)

    def share(self) -> None:
        """From the next commit on, allocate steps and merge the summary in queue.db
        (the process forked: a child logs into the same run)."""
        self._share_requested = True

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, RuntimeWarning, stacklevel=4)

    # -- the writer thread ------------------------------------------------------

    def _take_group(self) -> list[Request] | None:
        """The next requests to commit together. After the first arrives, wait up to
        COMMIT_DELAY_S for more (unless a flush or close is waiting), so a training
        loop that logs every step costs one commit per ~50 ms, not one per log."""
        with self._cond:
            while not self._pending:
                if self._closed or self._abort:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + COMMIT_DELAY_S
            while not self._closed and not self._urgent and len(self._pending) < MAX_GROUP:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            group: list[Request] = []
            while self._pending and len(group) < MAX_GROUP:
                req, cost = self._pending.popleft()
                self._taken += cost  # still held: given back by `_release_group`
                self._urgent -= isinstance(req, FlushRequest)
                group.append(req)
            self._held = list(group)
            self._cond.notify_all()
            return group

    def _loop(self) -> None:
        group: list[Request] | None = []
        try:
            while not self._abort:
                group = group or self._take_group()
                if group is None:
                    return
                group = self._write_group(group)  # what the commit did not take: next
                if not group:
                    self._release_group()
            self._abandon(group or [])
        finally:
            self._thread_exits()

    def _release_group(self) -> None:
        """The requests taken so far are written (or reported) and let go of: give their
        bytes back to the budget (only now: the memory is free before training may fill
        it again)."""
        with self._cond:
            self._cost -= self._taken
            self._taken = 0
            self._cond.notify_all()

    def _lost(self, group: list[Request], reason: str) -> None:
        """Report requests that were not persisted, and forget the table versions they
        would have written: logging such a table again then writes it in full, instead
        of pointing at (or building its chunks on) a version that does not exist."""
        self._record_loss(group, reason)
        for req in group:
            if isinstance(req, LogRequest):
                for t in req.tables:
                    if t.artifact is not None:
                        state = log_state(t.table)
                        state.ref = None
                        if not t.incremental:
                            state.logged = state.last = None

    def _record_loss(self, group: list[Request], reason: str) -> None:
        lost = [_describe(r) for r in group if not isinstance(r, FlushRequest)]
        if not lost:
            return
        self.not_persisted.extend(f"{d} ({reason})" for d in lost)
        self._warn_once("loss", f"tablelog: could not persist {len(lost)} logged item(s): "
                                f"{reason}. Training goes on; `run.not_persisted` lists them.")

    def _write_group(self, group: list[Request], *, final: bool = False) -> list[Request]:
        # The agent deletes no blob while we are between putting it and committing the
        # entry that names it (see tablelog.store.blobstore).
        with self.queue.blobs.writing():
            return self._write_group_now(group, final=final)

    def _write_group_now(self, group: list[Request], *, final: bool = False
                         ) -> list[Request]:
        """Encode `group`'s requests in order and commit them in one transaction. Take no
        more once GROUP_MAX_BYTES are written, or once close() ran out of time (unless
        `final`: the run's end); return the requests not taken, for the next commit."""
        self._touched, self._group_bytes = [], 0
        if self._share_requested and self.shared is None:
            self.shared = SharedCommit(self.run.key, self._entry, lambda: self.summary)
        if self.shared is not None:
            self.shared.begin()
        entries: list[NewEntry] = []
        artifacts: list[tuple[LocalArtifact, Artifact]] = []
        taken: list[Request] = []
        rest: list[Request] = []
        try:
            for i, req in enumerate(group):
                if (self._abort and not final) or (taken and
                                                   self._group_bytes >= GROUP_MAX_BYTES):
                    rest = group[i:]
                    break
                taken.append(req)
                self._encode(req, entries, artifacts)
            if taken:
                self._commit(entries, artifacts, rest)
            self._settle([], "", rest)
        except QueueFullError as exc:  # disk full or over the cap: expected, warned once
            rest = group[len(taken):]  # raised while encoding: the rest was not looked at
            self._settle(taken, f"{type(exc).__name__}: {exc}", rest)
        except Exception as exc:  # a bug: never let the thread die; log its traceback
            report_bug(exc)
            rest = group[len(taken):]
            self._settle(taken, _bug_reason(exc), rest)
        finally:
            for req in taken:
                if isinstance(req, FlushRequest):
                    req.done.set()
        return rest

    def _encode(self, req: Request, entries: list[NewEntry],
                artifacts: list[tuple[LocalArtifact, Artifact]]) -> None:
        """Add one request's entries (and artifacts) to the commit being prepared; a
        request that cannot be encoded is reported on its own and the others go on."""
        try:
            if isinstance(req, LogRequest):
                self._write_log(req, entries, artifacts)
            elif isinstance(req, ArtifactRequest):
                self._write_artifact(req.artifact, req.aliases, entries, artifacts)
            elif isinstance(req, EntryRequest):
                if req.kind == wire.Kind.SUMMARY:
                    if self.shared is not None:
                        self.shared.summary_changed(req.body["summary"],
                                                    req.body.get("removed", ()))
                    self.summary.update(req.body["summary"])
                    for k in req.body.get("removed", ()):
                        self.summary.pop(k, None)
                    self._summary_dirty = True
                else:
                    if req.kind == wire.Kind.RUN_END:
                        self._add_summary_entry(entries)
                        with self._cond:  # saved with this commit, for `tablelog status`
                            self._state_extra["end"] = _end_of(req.body)
                    entries.append(self._entry(req.kind, req.body))
        except QueueFullError:
            raise
        except TablelogError as exc:  # the data cannot be encoded (e.g. bad media input)
            self._settle_one(req, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug in tablelog (or in a media subclass): log it
            report_bug(exc)
            self._settle_one(req, _bug_reason(exc))

    def _saved_state(self) -> dict[str, Any]:
        """What the queue keeps of this run between processes (see tablelog.runtime.resume)."""
        with self._cond:
            extra = dict(self._state_extra)
        return {"summary": self.summary, "incremental": self.incremental, **extra}

    def _end_state(self, body: dict[str, Any]) -> dict[str, bytes]:
        """The run state to save with a run_end committed outside a group (close() gave
        up on the writer)."""
        if not self._save_state:
            return {}
        return {self.run.key: wire.packb({**self._saved_state(), "end": _end_of(body)})}

    def _commit(self, entries: list[NewEntry], artifacts: list[tuple[LocalArtifact, Artifact]],
                rest: list[Request]) -> None:
        self._add_summary_entry(entries)
        state = self._saved_state()
        touched, self._touched = self._touched, []
        self.queue.blobs.sync(touched)
        if not self._begin_commit():  # close() gave up meanwhile and reported all this
            return
        try:
            _, versions = self.queue.commit(
                entries, [a for a, _ in artifacts],
                {self.run.key: wire.packb(state)} if self._save_state else None,
                finalize=None if self.shared is None else self.shared.finalize)
        except BaseException:
            self._end_commit(None)
            raise
        self._end_commit(rest)
        if self.shared is not None:
            self.summary = self.shared.committed(self.summary)
        for (local, art), version in zip(artifacts, versions, strict=True):
            art.version = f"v{version}"
            art.aliases = sorted({"latest", *local.aliases})
            _remove_staged(art)
        if self.after_commit is not None:
            self.after_commit(self.queue, entries)

    def _put_blob(self, data: bytes) -> str:
        """Store a blob without its own fsync; `_write_group` syncs them all at once
        before the commit that makes entries referencing them visible."""
        sha = self.queue.blobs.put(data, fsync=False)
        self._touched.append(sha)
        self._group_bytes += len(data)
        return sha

    def _add_summary_entry(self, entries: list[NewEntry]) -> None:
        """One summary entry per commit at most: the whole summary, if it changed."""
        if self._summary_dirty:
            entries.append(self._entry(wire.Kind.SUMMARY, {"summary": dict(self.summary)}))
            self._summary_dirty = False

    def _entry(self, kind: wire.Kind, body: dict[str, Any], blobs: tuple[str, ...] = (),
               blob_bytes: int = 0, resolve: Callable[[Any], Any] | None = None) -> NewEntry:
        if self.segment is not None and kind in _SEGMENTED:
            body = {**body, "segment": self.segment}
        payload = wire.encode_entry(kind, entity=self.run.entity, project=self.run.project,
                                    run_id=self.run.run_id, body=body, resolve=resolve)
        self._group_bytes += len(payload)
        return NewEntry(self.run.key, str(kind), payload, blobs, blob_bytes)

    def _media_resolver(self, blobs: list[str]) -> Callable[[Any], Any]:
        """Turn a media value into a MediaRef, storing its bytes (once per hash)."""
        def resolve(obj: Any) -> Any:
            kind = getattr(obj, "_kind", None)
            if kind is None:
                raise TypeError(f"cannot log a value of type {type(obj).__name__}")
            data, meta = obj._encode()
            sha = self._put_blob(data)
            blobs.append(sha)
            yield_gil()
            return wire.MediaRef(kind, sha, len(data), meta)
        return resolve

    def _write_log(self, req: LogRequest, entries: list[NewEntry],
                   artifacts: list[tuple[LocalArtifact, Artifact]]) -> None:
        row = dict(req.row)
        for t in req.tables:
            state = log_state(t.table)
            ref = state.ref
            if t.artifact is not None or ref is None:
                art = t.artifact
                if art is None:  # logged again unchanged, but the version it repeats was lost
                    lost = (f"log step {req.step} ({t.key}) (the table was logged again "
                            "unchanged, but its earlier log was not persisted)")
                    self.not_persisted.append(lost)
                    self._warn_once("loss", f"tablelog: could not persist {lost}. Training "
                                            "goes on; `run.not_persisted` lists it.")
                    continue
                digest, written = self._write_artifact(art, [], entries, artifacts,
                                                       incremental_key=t.key if t.incremental
                                                       else None)
                entry = written[t.key]
                kind = "incremental-table" if t.incremental else t.kind
                ref = wire.TableRef(art.name, t.key, digest, int(entry.meta.get("nrows", 0)),
                                    int(entry.meta.get("ncols", 0)), kind)
                state.ref = ref
            row[t.key] = ref
        blobs: list[str] = []
        resolve = self._media_resolver(blobs)
        row = {k: _resolve_media(v, resolve) for k, v in row.items()}
        unique = tuple(dict.fromkeys(blobs))
        nbytes = sum(self.queue.blobs.size(b) for b in unique)
        entries.append(self._entry(wire.Kind.HISTORY, {"step": req.step, "row": row}, unique,
                                   nbytes))
        changed = {k: v for k, v in row.items() if not k.startswith("_")}
        if self.shared is not None:
            self.shared.history(len(entries) - 1, req.step, row, unique, nbytes)
            self.shared.summary_changed(changed, ())
        self.summary.update(changed)
        self._summary_dirty = True

    def _write_artifact(self, art: Artifact, aliases: list[str], entries: list[NewEntry],
                        artifacts: list[tuple[LocalArtifact, Artifact]], *,
                        incremental_key: str | None = None
                        ) -> tuple[str, dict[str, wire.ManifestEntry]]:
        written: dict[str, wire.ManifestEntry] = {}
        blob_bytes = 0
        sink = self._put_blob
        for name, pending in art._pending.items():
            if isinstance(pending, PendingTable):
                media_blobs: list[str] = []
                resolver = self._media_resolver(media_blobs)

                def resolve(obj: Any, shas: list[str], _r: Any = resolver,
                            _m: list[str] = media_blobs) -> Any:
                    ref = _r(obj)
                    shas.append(_m[-1])
                    return ref

                if incremental_key == name:
                    state = self.incremental.get(name) or {"chunks": [], "increments": 0}
                    base = [_chunk_from_plain(c) for c in state["chunks"]]
                    result = write_snapshot(pending.snapshot, sink, resolve,
                                            incremental_base=base,
                                            increments=state["increments"] + 1)
                    self.incremental[name] = {
                        "chunks": [_chunk_to_plain(c) for c in result.chunks],
                        "increments": state["increments"] + 1}
                else:
                    result = write_snapshot(pending.snapshot, sink, resolve)
                written[name] = result.entry
                blob_bytes += result.blob_bytes + sum(
                    self.queue.blobs.size(b) for b in set(media_blobs))
            elif isinstance(pending, PendingJoined):
                data = wire.encode_joined_table(pending.table1, pending.table2, pending.join_key)
                written[name] = wire.ManifestEntry("joined-table", sink(data), len(data),
                                                   {"join_key": pending.join_key})
                blob_bytes += len(data)
            elif isinstance(pending, PendingMedia):
                data, meta = pending.value._encode()
                written[name] = wire.ManifestEntry(pending.value._kind, sink(data), len(data),
                                                   meta)
                blob_bytes += len(data)
            elif isinstance(pending, PendingFile):
                sha, size = self.queue.blobs.put_file(pending.path, fsync=False)
                self._touched.append(sha)
                self._group_bytes += size
                file_meta: dict[str, Any] = {"source_name": pending.path.name}
                if pending.ref is not None:
                    file_meta["ref"] = pending.ref
                written[name] = wire.ManifestEntry("file", sha, size, file_meta)
                blob_bytes += size
            elif isinstance(pending, PendingReference):  # recorded, not fetched: no blob
                written[name] = wire.ManifestEntry(
                    REFERENCE_KIND, wire.sha256_hex(pending.uri.encode()), 0,
                    {"ref": pending.uri})
        digest = wire.artifact_digest(written)
        blobs = wire.artifact_blobs(written)
        body = {"name": art.name, "type": art.type, "description": art.description,
                "metadata": art.metadata, "aliases": sorted(set(aliases)), "digest": digest,
                "entries": {k: v.to_plain() for k, v in written.items()}, "blobs": blobs}
        entry = self._entry(wire.Kind.ARTIFACT, body, tuple(blobs), blob_bytes)
        entries.append(entry)
        artifacts.append((LocalArtifact(self.run.project, art.name, digest, art.type,
                                        wire.packb(body), self.run.key, tuple(aliases)), art))
        art._bind(manifest=written, digest=digest, version="pending",
                  aliases=sorted({"latest", *aliases}),
                  source=LocalBlobSource(self.queue.blobs), project=self.run.project,
                  entity=self.run.entity)
        return digest, written


def _chunk_to_plain(c: WrittenChunk) -> list[Any]:
    return [c.ref.sha256, c.ref.nrows, c.ref.size, list(c.media)]


def _chunk_from_plain(p: list[Any]) -> WrittenChunk:
    return WrittenChunk(wire.ChunkRef(p[0], p[1], p[2]), tuple(p[3]))


def _resolve_media(value: Any, resolve: Callable[[Any], Any]) -> Any:
    """A media value (or a list of them) logged in a row becomes MediaRef(s), in
    nested dicts too (as wandb converts a nested dict's values)."""
    if getattr(value, "_kind", None) is not None:
        return resolve(value)
    if isinstance(value, dict):
        return {k: _resolve_media(v, resolve) for k, v in value.items()}
    if isinstance(value, list | tuple) and value and all(
            getattr(v, "_kind", None) is not None for v in value):
        return [resolve(v) for v in value]
    return value


def _bug_reason(exc: BaseException) -> str:
    return (f"internal error {type(exc).__name__}: {exc} (a bug; its traceback is in the "
            "log, logger 'tablelog')")


def _describe(req: Request) -> str:
    if isinstance(req, LogRequest):
        keys = ", ".join(sorted(req.row) + [t.key for t in req.tables])
        return f"log step {req.step} ({keys})"
    if isinstance(req, ArtifactRequest):
        return f"artifact {req.artifact.name}"
    if isinstance(req, EntryRequest):
        return f"{req.kind} update"
    return "flush"


def _remove_staged(art: Artifact) -> None:
    """Delete the private copies `add_file(policy="mutable")` and `new_file` made, now
    that the blob store holds their bytes."""
    for pending in art._pending.values():
        if isinstance(pending, PendingFile) and pending.temporary:
            pending.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                pending.path.parent.rmdir()
