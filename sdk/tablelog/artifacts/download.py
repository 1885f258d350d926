"""`Artifact.download()`: an artifact written to a directory in the form wandb
writes it, so a wandb program that reads the files finds what it expects.

Default root: ``./artifacts/<name>:<version>`` (under TABLELOG_ARTIFACT_DIR, or
WANDB_ARTIFACT_DIR, instead of ``./artifacts`` when set), as wandb. Per entry:

- a file (``add_file``, ``add_dir``, ``new_file``, a ``file://`` reference): its
  bytes at ``<root>/<name>``;
- a table: ``<root>/<name>.table.json``, wandb's table JSON (``{"_type": "table",
  "columns", "data", "ncols", "nrows"}``) whose media cells are
  ``{"_type": "image-file", "path": "media/images/<hash>.png", "sha256", "size",
  ...}`` with the bytes at that path; timestamps as milliseconds since the epoch
  (as wandb's), arrays as nested lists, NaN and infinities as null (JSON has none);
- a media value: ``<root>/<name>.<kind>-file.json`` (the same cell form) and its
  file under ``media/``;
- a joined table: ``<root>/<name>.joined-table.json`` naming its two tables'
  files and the join key;
- a reference to ``http(s)``/``s3``/``gs``: not fetched (tablelog records
  references only); `download` refuses unless ``allow_missing_references``.

Files are written whole under a temporary name and renamed, so a reader never
sees half a file; an existing file with the right bytes is left alone.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tablelog import wire
from tablelog.artifacts.entry import REFERENCE_KIND, copy_into
from tablelog.errors import ArtifactError

if TYPE_CHECKING:
    from tablelog.artifacts.artifact import Artifact

_MEDIA_DIRS = {"image": "images", "audio": "audio", "video": "videos", "html": "html",
               "object3D": "object3D", "molecule": "molecule"}  # wandb's media/ folders
_DEFAULT_FORMAT = {"image": "png", "audio": "wav", "video": "gif", "html": "html",
                   "object3D": "pts.json", "molecule": "pdb"}


def default_root(name: str, version: str) -> Path:
    """``./artifacts/<name>:<version>`` (or under TABLELOG_ARTIFACT_DIR / WANDB_ARTIFACT_DIR)."""
    base = os.environ.get("TABLELOG_ARTIFACT_DIR") or os.environ.get("WANDB_ARTIFACT_DIR")
    return Path(base or "artifacts") / f"{name}:{version}"


def entry_file_name(name: str, entry: wire.ManifestEntry) -> str:
    """The path, relative to the root, of the file an entry is written as."""
    if entry.kind == "table":
        return name if name.endswith(".table.json") else f"{name}.table.json"
    if entry.kind == "joined-table":
        return f"{name}.joined-table.json"
    if entry.kind in _MEDIA_DIRS:
        return f"{name}.{entry.kind}-file.json"
    return name


def _write_bytes(target: Path, data: bytes) -> None:
    if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    partial.write_bytes(data)
    partial.replace(target)


def _write_blob(art: Artifact, sha256: str, target: Path) -> None:
    assert art._source is not None
    if target.is_file() and wire.sha256_hex(target.read_bytes()) == sha256:
        return
    copy_into(art._source.local_path(sha256), target)


def _media_cell(art: Artifact, ref: wire.MediaRef, root: Path) -> dict[str, Any]:
    """A media cell as wandb's JSON holds it, with its bytes written under media/."""
    cell = media_json(ref.kind, ref.sha256, ref.size, ref.meta)
    _write_blob(art, ref.sha256, root / cell["path"])
    return cell


def media_json(kind: str, sha256: str, size: int, meta: Mapping[str, Any]) -> dict[str, Any]:
    """A media cell as wandb's table JSON holds it; its file is at ``path``."""
    fmt = str(meta.get("format") or _DEFAULT_FORMAT.get(kind, "bin"))
    return {"_type": f"{kind}-file",
            "path": f"media/{_MEDIA_DIRS.get(kind, 'files')}/{sha256[:20]}.{fmt}",
            "sha256": sha256, "size": size, **{k: wire.jsonable(v) for k, v in meta.items()}}


def json_value(value: Any, media: Callable[[Any], dict[str, Any]]) -> Any:
    """A cell in wandb's table JSON: timestamps as ms since the epoch (naive = UTC),
    arrays as nested lists, NaN and infinities as null; `media` turns a media value
    (or a `wire.MediaRef`) into its cell."""
    if isinstance(value, wire.MediaRef) or getattr(value, "_kind", None) is not None:
        return media(value)
    if isinstance(value, list | tuple):
        return [json_value(v, media) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v, media) for k, v in value.items()}
    if isinstance(value, _dt.date) or type(value).__name__ == "datetime64":
        return wire._timestamp_ms(value)
    if type(value).__module__ == "numpy":
        return json_value(value.tolist(), media)
    return wire.jsonable(value)


def _cell(art: Artifact, value: Any, root: Path) -> Any:
    return json_value(value, lambda ref: _media_cell(art, ref, root))


def _table_json(art: Artifact, entry: wire.ManifestEntry, root: Path) -> dict[str, Any]:
    assert art._source is not None
    manifest = wire.TableManifest.from_bytes(art._source.read(entry.sha256))
    rows: list[Any] = []
    for chunk in manifest.chunks:
        rows.extend(_cell(art, row, root) for row in wire.decode_rows(
            art._source.read(chunk.sha256)))
    return {"_type": "table", "columns": list(manifest.columns), "data": rows,
            "ncols": len(manifest.columns), "nrows": len(rows),
            "log_mode": manifest.log_mode}


def write_entry(art: Artifact, name: str, root: Path) -> Path:
    """Write entry `name` of logged artifact `art` under `root`; its file's path."""
    entry = art.manifest[name]
    target = root / entry_file_name(name, entry)
    if entry.kind == REFERENCE_KIND:
        raise ArtifactError(f"entry {name!r} is a reference to {entry.meta.get('ref')}: "
                            "tablelog records references and does not fetch them")
    if entry.kind == "table":
        doc: Any = _table_json(art, entry, root)
    elif entry.kind == "joined-table":
        assert art._source is not None
        t1, t2, key = wire.decode_joined_table(art._source.read(entry.sha256))
        doc = {"_type": "joined-table", "table1": entry_file_name(t1, art.manifest[t1]),
               "table2": entry_file_name(t2, art.manifest[t2]), "join_key": key}
    elif entry.kind in _MEDIA_DIRS:
        doc = _media_cell(art, wire.MediaRef(entry.kind, entry.sha256, entry.size,
                                             dict(entry.meta)), root)
    else:
        _write_blob(art, entry.sha256, target)
        return target
    _write_bytes(target, json.dumps(doc, allow_nan=False).encode())
    return target


def download(art: Artifact, root: Path, *, allow_missing_references: bool = False,
             path_prefix: str | None = None) -> Path:
    """Write every entry of `art` (those under `path_prefix`, if given) under `root`."""
    names = [n for n in sorted(art.manifest)
             if path_prefix is None or n.startswith(path_prefix)]
    refs = [n for n in names if art.manifest[n].kind == REFERENCE_KIND]
    if refs and not allow_missing_references:
        raise ArtifactError(
            f"artifact {art.name!r} holds references tablelog does not fetch: "
            f"{', '.join(refs[:5])}{' ...' if len(refs) > 5 else ''}; pass "
            "allow_missing_references=True to download the rest")
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name not in refs:
            write_entry(art, name, root)
    return root


def written_files(art: Artifact) -> dict[str, wire.ManifestEntry]:
    """Relative path -> entry, for the entries written as their own bytes (files)."""
    return {entry_file_name(n, e): e for n, e in art.manifest.items()
            if e.kind not in ("table", "joined-table", REFERENCE_KIND, *_MEDIA_DIRS)}
