"""What `init()` makes of wandb's arguments, WANDB_* variables and `wandb.Settings`.

`init()` takes every keyword of wandb 0.31's ``wandb.init``. Those tablelog acts
on are resolved here, without I/O: the run-level variables (argument >
TABLELOG_* > WANDB_* > default), `config` in each shape wandb takes (a dict,
an argparse.Namespace, absl flags, a YAML file path) with its include/exclude
keys, `settings`, and the `reinit` rule for a second `init()` in a process.
Those it does nothing with are named in one log line (`ignored`).

WANDB_API_KEY and WANDB_BASE_URL are never read: they are another service's key
and URL, and sending that key to a tablelog server would leak it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("tablelog")

# run field -> (TABLELOG_ variable, the WANDB_ one wandb launchers set)
RUN_VARIABLES = {
    "id": ("TABLELOG_RUN_ID", "WANDB_RUN_ID"),
    "resume": ("TABLELOG_RESUME", "WANDB_RESUME"),
    "name": ("TABLELOG_RUN_NAME", "WANDB_NAME"),
    "notes": ("TABLELOG_RUN_NOTES", "WANDB_NOTES"),
    "tags": ("TABLELOG_RUN_TAGS", "WANDB_TAGS"),
    "job_type": ("TABLELOG_JOB_TYPE", "WANDB_JOB_TYPE"),
    "group": ("TABLELOG_RUN_GROUP", "WANDB_RUN_GROUP"),
    "silent": ("TABLELOG_SILENT", "WANDB_SILENT"),
}
REINIT_CHOICES = ("default", "return_previous", "finish_previous", "create_new")
# wandb.Settings field -> init() argument it stands for
_SETTINGS_FIELDS = {"mode": "mode", "root_dir": "dir", "project": "project",
                    "entity": "entity", "run_id": "id", "run_name": "name",
                    "run_notes": "notes", "run_tags": "tags", "run_group": "group",
                    "run_job_type": "job_type", "reinit": "reinit", "resume": "resume"}


class Settings:
    """``wandb.Settings(...)``: any keyword is accepted; `init(settings=...)` honours the
    fields that map onto tablelog (mode, root_dir, project, entity, run_id, run_name,
    run_notes, run_tags, run_group, run_job_type, reinit, resume, silent)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def to_dict(self) -> dict[str, Any]:
        """The fields that were set."""
        return dict(self.__dict__)

    def update(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Set more fields, as wandb's Settings.update."""
        self.__dict__.update(dict(values or {}), **more)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.__dict__.items() if k != "api_key"}
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def setup(settings: Settings | None = None) -> None:
    """``wandb.setup()``: tablelog needs no process-wide set-up; accepted and ignored."""
    if settings is not None:
        log.info("tablelog: setup(settings=...) is accepted and ignored")


def settings_arguments(settings: Settings | Mapping[str, Any] | None) -> dict[str, Any]:
    """The init() arguments that `settings` stands for (an init() argument wins)."""
    if settings is None:
        return {}
    values = dict(settings) if isinstance(settings, Mapping) else vars(settings)
    out = {arg: values[field] for field, arg in _SETTINGS_FIELDS.items()
           if values.get(field) is not None}
    if values.get("silent") or values.get("quiet"):
        out["silent"] = True
    unused = sorted(k for k in values if k not in _SETTINGS_FIELDS and k not in
                    ("silent", "quiet", "api_key", "base_url") and values[k] is not None)
    if "api_key" in values or "base_url" in values:
        log.info("tablelog: settings api_key/base_url are ignored: use tablelog.login() "
                 "or TABLELOG_API_KEY / TABLELOG_BASE_URL")
    if unused:
        log.info("tablelog: settings %s are accepted and ignored", ", ".join(unused))
    return out


def run_defaults(env: Mapping[str, str]) -> dict[str, Any]:
    """The run fields set by TABLELOG_*, else WANDB_* variables (tags split on commas)."""
    out: dict[str, Any] = {}
    for field, (ours, wandbs) in RUN_VARIABLES.items():
        name = ours if env.get(ours) else wandbs
        value = env.get(name)
        if not value:
            continue
        if field == "tags":
            out[field] = tuple(t.strip() for t in value.split(",") if t.strip())
        elif field == "silent":
            from tablelog.settings import parse_bool

            out[field] = parse_bool(value, name)
        elif field == "resume":
            out[field] = _parse_resume(value, name)
        else:
            out[field] = value
    return out


def _parse_resume(value: str, name: str) -> str | bool:
    text = value.strip().lower()
    if text in ("allow", "must", "never", "auto"):
        return text
    from tablelog.settings import parse_bool

    try:
        return parse_bool(text, name)
    except ValueError:
        raise ValueError(f"{name} must be allow, must, never, auto or a boolean, "
                         f"got {value!r}") from None


def ignored(arguments: Mapping[str, Any]) -> None:
    """One log line naming the init() arguments that tablelog accepts and does nothing
    with (those set to something other than their default)."""
    names = sorted(k for k, v in arguments.items() if v is not None and v is not False)
    if names:
        log.info("tablelog: init(%s) accepted and ignored (no tablelog equivalent)",
                 ", ".join(f"{n}=" for n in names))


@dataclass(frozen=True)
class Reinit:
    """What a second init() does while a run is active: "finish", "return" or "new"."""

    action: str


def reinit_rule(reinit: bool | str | None, resume: str | bool | None) -> Reinit:
    """wandb 0.31's rule: True / "finish_previous" finish the active run; "create_new"
    starts one beside it (not the module-level run); False, None, "default" and
    "return_previous" return the active run ("default" finishes it in a notebook), but
    with resume="must" that is an error."""
    check_reinit(reinit)
    if reinit is True or reinit == "finish_previous" or (
            reinit in (None, "default") and _in_notebook()):
        return Reinit("finish")
    if reinit == "create_new":
        return Reinit("new")
    if resume == "must":
        from tablelog.errors import RunError

        raise RunError("cannot resume a run while another run is active: finish it with "
                       "run.finish(), or pass reinit='create_new' to init()")
    return Reinit("return")


def check_reinit(reinit: object) -> None:
    """ValueError unless `reinit` is a bool, None or one of wandb's four words."""
    if reinit is not None and not isinstance(reinit, bool) and reinit not in REINIT_CHOICES:
        raise ValueError(f"reinit must be a bool or one of {', '.join(REINIT_CHOICES)}, "
                         f"got {reinit!r}")


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def run_config(config: Any, include: Sequence[str] | None, exclude: Sequence[str] | None
               ) -> dict[str, Any] | None:
    """`config` as a dict: a mapping, an argparse.Namespace (or any object with vars),
    absl flags (``flag_values_dict``), or the path of a YAML file (wandb's
    ``config-defaults.yaml`` shape, ``{key: {value: v}}``, is unwrapped; plain values,
    which wandb refuses, are kept); then only `include` keys, or all but `exclude` keys."""
    if include and exclude:  # as wandb 0.31 (wandb_helper.parse_config)
        from tablelog.errors import UsageError

        raise UsageError("pass at most one of config_include_keys and config_exclude_keys")
    if config is None:
        return None
    if isinstance(config, str):
        values = _yaml_config(config)
    elif isinstance(config, Mapping):
        values = dict(config)
    elif callable(getattr(config, "flag_values_dict", None)):  # absl.flags.FLAGS
        values = dict(config.flag_values_dict())
    else:
        try:
            values = dict(vars(config))
        except TypeError:
            raise TypeError(f"config must be a dict, an argparse.Namespace, absl flags or "
                            f"a YAML file path, got {type(config).__name__}") from None
    if include:
        values = {k: v for k, v in values.items() if k in include}
    if exclude:
        values = {k: v for k, v in values.items() if k not in exclude}
    return values


def _yaml_config(path: str) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        from tablelog.errors import UsageError

        raise UsageError(f"config={path!r} is a YAML file: reading it needs PyYAML "
                         "(pip install pyyaml), or pass a dict") from None
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path!r} must hold a mapping")
    data.pop("wandb_version", None)
    return {k: v["value"] if isinstance(v, dict) and set(v) <= {"value", "desc"}
            and "value" in v else v for k, v in data.items()}
