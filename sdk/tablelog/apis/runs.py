"""A run read back from the server (`wandb.apis.public.Run`'s counterpart): its
fields, its history (sampled with `history`, streamed with `scan_history`), the
files `run.save` stored and the artifacts it logged.

History semantics follow wandb 0.31:

- ``history(samples=500, keys=None, x_axis="_step", pandas=True)``: at most
  `samples` rows, spread evenly over the run (the first and last included);
  with `keys`, only rows holding every one of them, each reduced to `x_axis`
  and the keys; a pandas DataFrame unless ``pandas=False`` (or pandas is not
  installed: then a warning and the list, as wandb).
- ``scan_history(keys=None, page_size=1000, min_step=None, max_step=None)``:
  every row with ``min_step <= _step < max_step``, fetched a page at a time as
  the iterator advances; with `keys`, only rows holding every key, each reduced
  to those keys.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tablelog import wire
from tablelog.apis.client import HttpClient, url_path
from tablelog.errors import ApiError, ArtifactNotFoundError

if TYPE_CHECKING:
    from tablelog.apis.public import Api
    from tablelog.artifacts.artifact import Artifact

FILES_ARTIFACT_SUFFIX = "files"  # run.save's artifact, `tablelog.runtime.run_files`

INTERNAL_CONFIG_KEYS = ("_wandb", "wandb_version")
"""Config keys wandb's public Run keeps out of `config` (in `rawconfig`)."""


def _check_keys(keys: Sequence[str] | None) -> list[str] | None:
    if keys is None:
        return None
    if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"keys must be a list of strings, got {keys!r}")
    return list(keys)


def _has_all(row: dict[str, Any], keys: Sequence[str]) -> bool:
    return all(row.get(k) is not None for k in keys)


def evenly(rows: list[dict[str, Any]], samples: int) -> list[dict[str, Any]]:
    """At most `samples` of `rows`, evenly spaced, the first and the last included."""
    if samples <= 0:
        return []
    n = len(rows)
    if n <= samples:
        return rows
    if samples == 1:
        return [rows[0]]
    return [rows[round(i * (n - 1) / (samples - 1))] for i in range(samples)]


class HistoryScan:
    """The iterator `PublicRun.scan_history` returns: pages fetched as it advances."""

    def __init__(self, client: HttpClient, path: str, *, keys: list[str] | None,
                 page_size: int, min_step: int | None, max_step: int | None) -> None:
        if not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a positive int, got {page_size!r}")
        self._client, self._path, self._keys = client, path, keys
        self._page_size, self._min_step, self._max_step = page_size, min_step, max_step
        self._offset: int | None = 0
        self._buffer: list[dict[str, Any]] = []
        self._done = False

    def __iter__(self) -> HistoryScan:
        return self

    def __next__(self) -> dict[str, Any]:
        while not self._buffer:
            if self._done or self._offset is None:
                raise StopIteration
            self._fetch()
        return self._buffer.pop(0)

    def _fetch(self) -> None:
        params: dict[str, Any] = {"offset": self._offset, "limit": self._page_size}
        if self._min_step is not None and self._offset == 0:
            params["min_step"] = max(0, self._min_step)
        page = self._client.get_json(f"{self._path}/history", params)
        self._offset = page.get("next")
        for row in page["rows"]:
            step = row.get("_step")
            if self._max_step is not None and isinstance(step, int) and step >= self._max_step:
                self._done = True  # steps only grow along a run's history
                break
            if self._min_step is not None and isinstance(step, int) and step < self._min_step:
                continue
            if self._keys is None:
                self._buffer.append(row)
            elif _has_all(row, self._keys):
                self._buffer.append({k: row[k] for k in self._keys})


@dataclass
class RunFile:
    """A file `run.save` stored in the run (wandb's public ``File``)."""

    name: str
    size: int
    sha256: str
    _run: PublicRun = field(repr=False, compare=False)

    @property
    def md5(self) -> str:
        """tablelog addresses files by sha256; wandb's md5 field holds that hash here."""
        return self.sha256

    @property
    def url(self) -> str:
        return f"{self._run._require_client().base_url}/api/v1/blobs/{self.sha256}"

    def download(self, root: str | Path = ".", replace: bool = False,
                 exist_ok: bool = False, api: Any = None) -> IO[str]:
        """Write the file under `root` (its name as its relative path) and return it
        opened for reading, as wandb does. An existing file is an error unless
        `replace` (overwrite) or `exist_ok` (keep it)."""
        target = Path(root) / self.name
        if target.exists() and not replace:
            if exist_ok:
                return open(target)
            raise ValueError(f"File already exists at {target}: pass replace=True to overwrite "
                             "or exist_ok=True to leave it as it is")
        source = self._run._blob_source()
        local = source.local_path(self.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        shutil.copyfile(local, partial)
        partial.replace(target)
        return open(target)


@dataclass
class PublicRun:
    """A run as the server stores it (``Api().run(path)``)."""

    entity: str
    project: str
    id: str
    name: str
    state: str
    config: dict[str, Any]
    summary: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    group: str | None = None
    job_type: str | None = None
    created_at: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None
    rawconfig: dict[str, Any] = field(default_factory=dict)  # wandb's internal keys
    _client: HttpClient | None = field(default=None, repr=False, compare=False)
    _api: Api | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_plain(cls, entity: str, project: str, body: dict[str, Any],
                   client: HttpClient | None, api: Api | None) -> PublicRun:
        """A run from the server's answer for it. As wandb, `config` leaves out the
        internal keys (``_wandb``: the charts of `tablelog.plot`; ``wandb_version``),
        which are in `rawconfig`."""
        config = dict(body.get("config") or {})
        raw = {k: config.pop(k) for k in INTERNAL_CONFIG_KEYS if k in config}
        return cls(entity, project, body["id"], body.get("name") or body["id"],
                   body.get("state") or "unknown", config,
                   dict(body.get("summary") or {}), list(body.get("tags") or []),
                   body.get("notes"), body.get("group"), body.get("job_type"),
                   body.get("created_at"), dict(body.get("metrics") or {}),
                   list(body.get("alerts") or []), body.get("exit_code"), raw, client, api)

    # -- identity ------------------------------------------------------------------

    @property
    def path(self) -> list[str]:
        """``[entity, project, id]``, as wandb's."""
        return [self.entity, self.project, self.id]

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        """The run's page in the viewer."""
        return (f"{self._require_client().base_url}/p/{url_path(self.entity, self.project)}"
                f"/runs/{url_path(self.id)}")

    @property
    def _api_path(self) -> str:
        return f"/api/v1/runs/{url_path(self.entity, self.project, self.id)}"

    def _require_client(self) -> HttpClient:
        if self._client is None:
            raise ApiError("this run was not read from a server (use Api().run(path))")
        return self._client

    def _await_writes(self, what: str) -> None:
        if self._api is not None:
            self._api._await_writes(f"{what} of run {'/'.join(self.path)}",
                                    project=self.project, entity=self.entity, run_id=self.id)

    def update(self) -> None:
        """Store this object's name, notes, tags, group, job_type, config and summary
        on the server, as wandb's does (the whole config and summary)."""
        body = {"name": self.name, "notes": self.notes, "tags": list(self.tags),
                "group": self.group, "job_type": self.job_type,
                "config": wire.jsonable({**self.config, **self.rawconfig}),
                "summary": wire.jsonable(dict(self.summary))}
        fresh = self._require_client().send_json(
            "POST", self._api_path, {k: v for k, v in body.items() if v is not None})
        self.tags = list(fresh.get("tags") or [])

    def load(self, force: bool = False) -> None:
        """Read the run from the server again."""
        fresh = self._require_client().get_json(self._api_path)
        again = PublicRun.from_plain(self.entity, self.project, fresh, self._client, self._api)
        for name in ("name", "state", "config", "summary", "tags", "notes", "group",
                     "job_type", "created_at", "metrics", "alerts", "exit_code", "rawconfig"):
            setattr(self, name, getattr(again, name))

    # -- history -------------------------------------------------------------------

    def scan_history(self, keys: Sequence[str] | None = None, page_size: int = 1000,
                     min_step: int | None = None, max_step: int | None = None) -> HistoryScan:
        """Every history row (with ``min_step <= _step < max_step``), streamed."""
        self._await_writes("the history")
        return HistoryScan(self._require_client(), self._api_path, keys=_check_keys(keys),
                           page_size=page_size, min_step=min_step, max_step=max_step)

    def history(self, samples: int = 500, keys: Sequence[str] | None = None,
                x_axis: str = "_step", pandas: bool = True, stream: str = "default") -> Any:
        """A sample of the history: a DataFrame, or a list of dicts with ``pandas=False``."""
        wanted = _check_keys(keys)
        if not isinstance(samples, int) or isinstance(samples, bool):
            raise TypeError(f"samples must be an int, got {samples!r}")
        if stream != "default":
            warnings.warn(f"tablelog records no {stream!r} stream (system metrics are not "
                          "collected); history is empty", UserWarning, stacklevel=2)
            rows: list[dict[str, Any]] = []
        else:
            rows = list(self.scan_history())
            if wanted:
                columns = list(dict.fromkeys([x_axis, *wanted]))
                rows = [{k: row.get(k) for k in columns} for row in rows
                        if _has_all(row, wanted)]
            rows = evenly(rows, samples)
        if not pandas:
            return rows
        try:
            import pandas as pd
        except ImportError:
            warnings.warn("Unable to load pandas, call history with pandas=False",
                          UserWarning, stacklevel=2)
            return rows
        return pd.DataFrame.from_records(rows)

    # -- files and artifacts -------------------------------------------------------

    def _blob_source(self) -> Any:
        from tablelog.apis.client import CachingBlobSource

        assert self._api is not None, "files are read through Api().run(path)"
        return CachingBlobSource(self._require_client(), self._api._store)

    def _saved_files(self) -> dict[str, wire.ManifestEntry]:
        name = wire.run_artifact_name(self.id, FILES_ARTIFACT_SUFFIX)
        self._await_writes("the files")
        try:
            body = self._require_client().get_json(
                f"/api/v1/artifacts/{url_path(self.entity, self.project, name)}/latest")
        except ArtifactNotFoundError:
            return {}
        return {k: wire.ManifestEntry.from_plain(v) for k, v in body["entries"].items()}

    def files(self, names: Sequence[str] | None = None, per_page: int = 50) -> list[RunFile]:
        """The files `run.save` stored in the run, by name (only `names`, if given)."""
        saved = self._saved_files()
        chosen = sorted(saved) if names is None else [n for n in names if n in saved]
        return [RunFile(n, saved[n].size, saved[n].sha256, self) for n in chosen]

    def file(self, name: str) -> RunFile:
        """One saved file; `ApiError` (wandb's CommError) naming the files there are,
        when there is none called `name`."""
        saved = self._saved_files()
        if name not in saved:
            raise ApiError(f"run {'/'.join(self.path)} has no file {name!r} "
                           f"(files: {sorted(saved) or 'none'})")
        entry = saved[name]
        return RunFile(name, entry.size, entry.sha256, self)

    def used_artifacts(self, per_page: int = 100) -> list[Artifact]:
        """The artifact versions this run read with `use_artifact` (those the server
        has: a version only this machine logged is not linked), in the order it did."""
        self._await_writes("the artifacts")
        assert self._api is not None, "artifacts are read through Api().run(path)"
        body = self._require_client().get_json(f"{self._api_path}/used_artifacts")
        return [self._api.artifact(f"{v['entity']}/{v['project']}/{v['name']}:{v['version']}")
                for v in body["artifacts"]]

    def logged_artifacts(self, per_page: int = 100) -> list[Artifact]:
        """The artifact versions this run logged, oldest first (its tables included)."""
        self._await_writes("the artifacts")
        assert self._api is not None, "artifacts are read through Api().run(path)"
        body = self._require_client().get_json(f"{self._api_path}/artifacts")
        return [self._api.artifact(f"{self.entity}/{self.project}/{v['name']}:{v['version']}")
                for v in body["artifacts"]]
