"""What a program logs: `Table`, `JoinedTable`, column types and media values.

As ``wandb.data_types``, the module names the data types (``wandb.data_types.Table``,
``.Image`` ...); they are imported on first use, so that importing this package
(or `tablelog`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module of this package that defines it (wandb.data_types' names we have)
_EXPORTS: dict[str, str] = {
    "Table": "table",
    "JoinedTable": "joined_table",
    "Image": "image",
    "Audio": "media",
    "Video": "media",
    "Html": "media",
    "Object3D": "object3d",
    "Molecule": "object3d",
    "Media": "media_base",
    "Histogram": "histogram",
    "Classes": "overlays",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*__all__, *sorted(n for n in globals() if not n.startswith("_"))]
