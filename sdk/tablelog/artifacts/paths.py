"""Artifact paths as wandb users write them: ``name``, ``name:alias``, ``name:vN``,
``project/name:alias``, ``entity/project/name:alias``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tablelog import wire


@dataclass(frozen=True)
class ArtifactPath:
    entity: str | None
    project: str | None
    name: str
    ref: str  # alias or vN

    def __str__(self) -> str:
        prefix = "/".join(p for p in (self.entity, self.project) if p)
        return f"{prefix + '/' if prefix else ''}{self.name}:{self.ref}"


def parse_artifact_path(path: str) -> ArtifactPath:
    """Split an artifact path; ValueError for one that cannot be an artifact."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"artifact path must be a non-empty string, got {path!r}")
    base, _, ref = path.partition(":")
    ref = ref or "latest"
    parts = base.split("/")
    if len(parts) > 3:
        raise ValueError(f"artifact path {path!r} has too many parts; "
                         "use [entity/][project/]name[:alias]")
    name = parts[-1]
    project = parts[-2] if len(parts) >= 2 else None
    entity = parts[-3] if len(parts) == 3 else None
    for label, value in (("name", name), ("project", project), ("entity", entity)):
        if value is not None and not wire.is_valid_name(value):
            raise ValueError(f"invalid artifact {label} {value!r} in {path!r}")
    if not wire.is_valid_name(ref):
        raise ValueError(f"invalid alias or version {ref!r} in {path!r}")
    return ArtifactPath(entity, project, name, ref)
