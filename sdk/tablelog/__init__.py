"""tablelog: wandb.Table-compatible logging that never blocks training.

``import tablelog as wandb`` runs code written for wandb's Table, media,
Artifact and run APIs. Logging writes to a durable local queue; a separate
agent uploads it. Names are imported lazily so that ``import tablelog`` stays
cheap (the agent and server import ``tablelog.wire`` without the rest).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Table": "tablelog.data_types.table",
    "Image": "tablelog.data_types.media",
    "Audio": "tablelog.data_types.media",
    "Video": "tablelog.data_types.media",
    "Html": "tablelog.data_types.media",
    "Object3D": "tablelog.data_types.object3d",
    "Molecule": "tablelog.data_types.object3d",
    "box3d": "tablelog.data_types.object3d",
    "JoinedTable": "tablelog.data_types.joined_table",
    "Histogram": "tablelog.data_types.histogram",
    "Classes": "tablelog.data_types.overlays",
    "Artifact": "tablelog.artifacts.artifact",
    "Run": "tablelog.runtime.runs",
    "init": "tablelog.runtime.runs",
    "log": "tablelog.runtime.runs",
    "finish": "tablelog.runtime.runs",
    "mark_preempting": "tablelog.runtime.runs",
    "login": "tablelog.runtime.credentials",
    "setup": "tablelog.runtime.init_args",
    "Settings": "tablelog.runtime.init_args",
    "define_metric": "tablelog.runtime.module_api",
    "log_artifact": "tablelog.runtime.module_api",
    "use_artifact": "tablelog.runtime.module_api",
    "alert": "tablelog.runtime.module_api",
    "watch": "tablelog.runtime.module_api",
    "unwatch": "tablelog.runtime.module_api",
    "save": "tablelog.runtime.module_api",
    "Api": "tablelog.apis.public",
    "plot_table": "tablelog.plot.custom_chart",
    "Error": "tablelog.errors",
    "TablelogError": "tablelog.errors",
}
# submodules wandb programs reach as attributes (`wandb.errors.AuthenticationError`)
_SUBMODULES = {"errors": "tablelog.errors", "data_types": "tablelog.data_types",
               "plot": "tablelog.plot"}

# module-level state mirrored from the active run (wandb.run, wandb.config, wandb.summary)
_RUN_STATE = {"run", "config", "summary"}

__all__ = sorted([*_EXPORTS, *_RUN_STATE, *_SUBMODULES])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    if name in _RUN_STATE:
        from tablelog.runtime import runs as _run

        return _run.current_attribute(name)
    raise AttributeError(f"module 'tablelog' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
