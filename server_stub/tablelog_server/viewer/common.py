"""Pieces several viewer pages share: viewer URLs, artifact version lookup, time
formatting and the Python snippets."""

from __future__ import annotations

import datetime as dt
import keyword
from typing import Any

from tablelog import wire
from tablelog_server.api import artifact_version as artifact_version
from tablelog_server.errors import UnreadableDataError
from tablelog_server.metadata import ArtifactVersionRecord
from tablelog_server.viewer.html import Html, el, py_str, url
from tablelog_server.viewer.numbers import fmt_number


def project_url(entity: str, project: str) -> str:
    """The project page."""
    return url("p", entity, project)


def run_url(entity: str, project: str, run_id: str) -> str:
    """The run page."""
    return url("p", entity, project, "runs", run_id)


def artifact_url(entity: str, project: str, name: str, version: str | None = None) -> str:
    """The artifact page, or one version's page."""
    if version is None:
        return url("p", entity, project, "artifacts", name)
    return url("p", entity, project, "artifacts", name, version)


def table_url(entity: str, project: str, name: str, version: str, entry: str,
              **query: object) -> str:
    """The table page of an entry (a table or joined table) of an artifact version."""
    return url("p", entity, project, "tables", name, version, entry, **query)


def fmt_time(timestamp: float | None) -> str:
    """A UTC time to the second, or '—'; seconds since the epoch past the years a
    datetime holds (a client may send 1e308) are shown as that number."""
    if timestamp is None:
        return "—"
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{fmt_number(timestamp)} s since 1970"


def state_badge(state: str, exit_code: int | None) -> Html:
    """A run's state, with its exit code when it is not 0 ("failed (exit 3)")."""
    label = state if not exit_code else f"{state} (exit {exit_code})"
    return el("span", {"class": f"state {state}"}, label)


def fmt_bytes(size: int) -> str:
    """A size in B, KiB, MiB or GiB (a manifest's size is a client's: any int)."""
    if size < 1024:
        return f"{size} B"
    for unit, shift in (("KiB", 10), ("MiB", 20)):
        if size < 1024 << shift:
            return f"{size / (1 << shift):.1f} {unit}"
    if size < 1 << 1000:
        return f"{size / (1 << 30):.1f} GiB"
    return f"{fmt_number(size >> 30)} GiB"  # past a float


def unpack(data: bytes | None, default: Any) -> Any:
    """A stored msgpack value (wire values kept: media and table refs stay objects)."""
    return default if data is None else wire.unpackb(data)


def entries_of(version: ArtifactVersionRecord) -> dict[str, wire.ManifestEntry]:
    """A version's entries, decoded; `UnreadableDataError` for a malformed manifest."""
    plain = unpack(version.entries, {})
    try:
        return {str(name): wire.ManifestEntry.from_plain(e) for name, e in plain.items()}
    except (ValueError, AttributeError) as exc:
        raise UnreadableDataError(f"artifact {version.name}:{version.label} has a malformed "
                                  f"manifest: {exc}") from None


def api_lines() -> list[str]:
    """The first lines of every snippet: an `Api` for the same server and key."""
    return ["import tablelog",
            "api = tablelog.Api()  # reads TABLELOG_BASE_URL and TABLELOG_API_KEY"]


def artifact_path(entity: str, project: str, name: str, version: str) -> str:
    """``entity/project/name:version`` as `use_artifact` and `Api.artifact` take it."""
    return f"{entity}/{project}/{name}:{version}"


def entry_snippet(entity: str, project: str, name: str, version: str, entry: str,
                  *, suffix: str = "") -> list[str]:
    """Python that reads one artifact entry, with `Api` and inside a run."""
    path = py_str(artifact_path(entity, project, name, version))
    usable = entry.isidentifier() and not keyword.iskeyword(entry)
    var = entry if usable and entry not in ("api", "run", "tablelog") else "table"
    return [*api_lines(),
            f"{var} = api.artifact({path}).get({py_str(entry)}){suffix}",
            "# or, inside a run:",
            f"{var} = run.use_artifact({path}).get({py_str(entry)}){suffix}"]
