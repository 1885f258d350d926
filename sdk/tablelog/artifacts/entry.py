"""`ArtifactManifestEntry`: one named entry of an artifact as wandb programs see it
(``artifact.get_entry(name)``, ``artifact.files()``, what ``add_file`` returns).

An entry of an artifact being built knows its path, and (for a file) its local
source; one of a logged or read-back artifact also knows its blob (``digest`` is
the sha256 hex, where wandb's is a base64 md5) and can be downloaded. A
reference (``add_reference`` of an ``http(s)``/``s3``/``gs`` URI) records the URI
only: ``ref`` holds it and nothing is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tablelog import wire
from tablelog.errors import ArtifactError, ArtifactStateError

if TYPE_CHECKING:
    from tablelog.artifacts.artifact import Artifact

REFERENCE_KIND = "reference"  # a ManifestEntry kind: the URI in meta["ref"], no blob


@dataclass(eq=False)
class ArtifactManifestEntry:
    """An entry: `path` (its name in the artifact), `digest`, `size`, `ref` (a
    reference's URI), `local_path` (the source of a file not logged yet)."""

    path: str
    digest: str | None = None
    size: int | None = None
    ref: str | None = None
    local_path: str | None = None
    kind: str = "file"
    _artifact: Artifact | None = field(default=None, repr=False)

    @classmethod
    def of(cls, artifact: Artifact, name: str, entry: wire.ManifestEntry
           ) -> ArtifactManifestEntry:
        ref = entry.meta.get("ref") if isinstance(entry.meta.get("ref"), str) else None
        return cls(name, entry.sha256, entry.size, ref, None, entry.kind, artifact)

    @property
    def name(self) -> str:
        return self.path

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArtifactManifestEntry):
            return NotImplemented
        return (self.path, self.digest, self.size, self.ref) == (
            other.path, other.digest, other.size, other.ref)

    def __hash__(self) -> int:
        return hash((self.path, self.digest))

    def ref_url(self) -> str:
        """The reference's URI; a logged entry's blob URL on the server otherwise."""
        if self.ref is not None:
            return self.ref
        raise ArtifactError(f"entry {self.path!r} is not a reference")

    def ref_target(self) -> str:
        return self.ref_url()

    def _require_logged(self) -> Artifact:
        if self._artifact is None or self._artifact._manifest is None:
            raise ArtifactStateError(f"entry {self.path!r} belongs to an artifact that has not "
                                     "been logged; log it, or read one with use_artifact()")
        return self._artifact

    def get(self) -> Any:
        """The value the entry stores (a Table, media value, or a file's local path)."""
        return self._require_logged().get(self.path)

    def download(self, root: str | Path | None = None, skip_cache: bool | None = None) -> str:
        """Write this entry under `root` (default: the artifact's download directory),
        in the form `Artifact.download` writes it; returns the file's path."""
        from tablelog.artifacts.download import write_entry

        art = self._require_logged()
        target = Path(root) if root is not None else art._default_root()
        if self.kind == REFERENCE_KIND:
            raise ArtifactError(f"entry {self.path!r} is a reference to {self.ref}: tablelog "
                                "records references and does not fetch them")
        return str(write_entry(art, self.path, target))


def copy_into(source: Path, target: Path) -> None:
    """Copy `source` to `target` atomically (a partial file never has the final name)."""
    import shutil  # here: a run's init() never copies

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, partial)
    partial.replace(target)
