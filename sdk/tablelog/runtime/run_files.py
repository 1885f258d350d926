"""`run.save()`: files saved into a run.

wandb uploads saved files into the run's file list. tablelog keeps them as
versions of one artifact per run, ``run-<id>-files`` (type ``run_files``),
through the same queue, blob upload and server storage as any artifact, so
they are listed by the public API and the viewer and downloadable there.
Each `save` copies the matching files into ``run.dir`` (as wandb does) and
logs a version holding every file saved so far; an unchanged file costs no
new upload (blobs are content-addressed).

Files saved with policy "live" or "end" are copied and logged again when
the run ends if they changed. `save` waits until the writer has read the
copies (local disk only), so that a later copy never changes a pending one. Deviation: a "live"
file is not uploaded at each change while the run goes on.
"""

from __future__ import annotations

import filecmp
import glob as _glob
import os
import shutil
import warnings
from pathlib import Path, PurePath

from tablelog import wire

POLICIES = ("live", "end", "now")
FILES_ARTIFACT_TYPE = "run_files"


def files_artifact_name(run_id: str) -> str:
    """The artifact a run's saved files are versions of."""
    return wire.run_artifact_name(run_id, "files")


def collect(glob_str: str | os.PathLike[str] | bytes, base_path: str | os.PathLike[str] | None,
            policy: str, files_root: Path, *, expand_glob: bool = True
            ) -> list[tuple[Path, Path]]:
    """Copy the files `glob_str` matches into `files_root`, named by their path
    relative to `base_path` (wandb's rules); (source, copy) pairs, sorted."""
    if isinstance(glob_str, bytes):
        glob_str = glob_str.decode("utf-8")
    glob_text = os.fspath(glob_str)
    if glob_text.startswith(("gs://", "s3://")):
        warnings.warn(f"{glob_text} is a cloud storage url, can't save file to a run.",
                      UserWarning, stacklevel=4)
        return []
    if policy not in POLICIES:
        raise ValueError('Only "live", "end" and "now" policies are currently supported.')
    glob_path = PurePath(os.path.abspath(glob_text))
    if base_path is not None:
        base = PurePath(os.path.abspath(base_path))
    elif not PurePath(glob_text).is_absolute():
        base = PurePath(os.path.abspath("."))
    else:
        base = glob_path.parent.parent
    try:
        glob_path.relative_to(base)
    except ValueError:
        raise ValueError(f"the glob {glob_text!r} is not under base_path {str(base)!r}"
                         ) from None
    sources = (_glob.glob(str(glob_path), recursive=True) if expand_glob
               else [str(glob_path)])
    copies: list[tuple[Path, Path]] = []
    for source in sorted(Path(s) for s in sources):
        if not source.is_file():
            continue
        target = files_root / PurePath(source).relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        copy_file(source, target)
        copies.append((source, target))
    return copies


def copy_file(source: Path, target: Path) -> None:
    """Copy `source` over `target` (nothing when they are the same file)."""
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)


def same_content(source: Path, target: Path) -> bool:
    """Whether `target` holds the bytes of `source` (False when it is missing)."""
    return target.is_file() and filecmp.cmp(source, target, shallow=False)
