"""init() called the wandb 0.31 way (issue 16.3): every keyword of ``wandb.init`` is taken,
a misspelt one is a TypeError, what tablelog does nothing with is one log line; config in
each shape wandb takes; reinit and several runs per process as in wandb 0.31 (checked by
running the same snippets with wandb 0.31 in its side venv, WANDB_MODE=offline: a second
init() returns the active run; create_new leaves `wandb.run` alone, even when none is
active); `wandb.Settings`, `wandb.setup()`; TABLELOG_* values that do not parse name the
variable."""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.errors import RunError
from tablelog.settings import SdkConfig
from tablelog.store.queue import Queue

# wandb 0.31.0's `init` parameters (wandb/sdk/wandb_init.py)
WANDB_INIT_PARAMETERS = [
    "entity", "project", "dir", "id", "name", "notes", "tags", "config",
    "config_exclude_keys", "config_include_keys", "allow_val_change", "group", "job_type",
    "mode", "force", "reinit", "resume", "resume_from", "fork_from", "save_code",
    "tensorboard", "sync_tensorboard", "monitor_gym", "settings", "anonymous"]


def run_bodies(queue_dir: Path) -> list[dict[str, object]]:
    with Queue(queue_dir) as q:
        entries = [wire.decode_entry(e.payload)
                   for e in q.claim_batch(max_entries=1000, max_bytes=1 << 30)]
    return [e.body for e in entries if e.kind == wire.Kind.RUN]


def test_init_has_every_parameter_of_wandb_init() -> None:
    assert set(WANDB_INIT_PARAMETERS) <= set(inspect.signature(wandb.init).parameters)


def test_a_misspelt_keyword_is_a_type_error_as_in_wandb(queue_dir: Path) -> None:
    with pytest.raises(TypeError, match="projct"):
        wandb.init(projct="p")
    with pytest.raises(TypeError, match="magic"):  # gone from wandb 0.31's init too
        wandb.init(project="p", magic=True)
    assert wandb.run is None


def test_what_tablelog_ignores_is_one_log_line(queue_dir: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tablelog"):
        run = wandb.init(project="p", save_code=True, sync_tensorboard=True, monitor_gym=True,
                         tensorboard=True, allow_val_change=True, force=True, anonymous="never",
                         resume_from=None, fork_from=None)
        run.finish()
    lines = [r.getMessage() for r in caplog.records if "accepted and ignored" in r.getMessage()]
    assert len(lines) == 1, lines
    for name in ("save_code=", "sync_tensorboard=", "monitor_gym=", "anonymous="):
        assert name in lines[0]


def test_group_and_job_type_are_recorded(queue_dir: Path) -> None:
    with wandb.init(project="p", group="sweep-1", job_type="eval") as run:
        assert (run.group, run.job_type) == ("sweep-1", "eval")
    [body] = run_bodies(queue_dir)
    assert (body["group"], body["job_type"]) == ("sweep-1", "eval")


def test_config_in_each_shape_wandb_takes(queue_dir: Path) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=3)
    with wandb.init(project="p", config=parser.parse_args([])) as run:
        assert dict(run.config) == {"lr": 0.1, "epochs": 3}

    class AbslFlags:  # the one method wandb reads from absl.flags.FLAGS
        def flag_values_dict(self) -> dict[str, object]:
            return {"batch": 32, "seed": 1}

    with wandb.init(project="p", config=AbslFlags()) as run:
        assert dict(run.config) == {"batch": 32, "seed": 1}
    with wandb.init(project="p", config={"a": 1, "b": 2, "c": 3},
                    config_include_keys=["a"]) as run:
        assert dict(run.config) == {"a": 1}
    with pytest.raises(wandb.errors.UsageError, match="at most one"):  # as wandb 0.31
        wandb.init(project="p", config={"a": 1}, config_include_keys=["a"],
                   config_exclude_keys=["b"])
    with wandb.init(project="p", config={"a": 1, "b": 2}, config_exclude_keys=["b"]) as run:
        assert dict(run.config) == {"a": 1}


def test_config_from_a_yaml_file(queue_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "config-defaults.yaml"
    path.write_text("wandb_version: 1\nlr:\n  desc: rate\n  value: 0.01\nlayers: 4\n")
    try:
        import yaml  # noqa: F401
    except ImportError:
        with pytest.raises(wandb.errors.UsageError, match="PyYAML"):
            wandb.init(project="p", config=str(path))
        return
    with wandb.init(project="p", config=str(path)) as run:
        assert dict(run.config) == {"lr": 0.01, "layers": 4}


def test_a_second_init_returns_the_active_run(queue_dir: Path) -> None:
    first = wandb.init(project="p")
    assert wandb.init(project="other") is first
    assert wandb.init(project="p", reinit=False) is first
    assert wandb.init(project="p", reinit="return_previous") is first
    with pytest.raises(RunError, match="reinit='create_new'"):
        wandb.init(project="p", resume="must")
    second = wandb.init(project="p", reinit="finish_previous")
    assert second is not first and wandb.run is second
    with pytest.raises(RunError):
        first.log({"x": 1})  # finished
    third = wandb.init(project="p", reinit=True)
    assert third is not second and wandb.run is third
    third.finish()
    with pytest.raises(ValueError, match="reinit"):
        wandb.init(project="p", reinit="sometimes")


def test_create_new_runs_beside_the_active_run(queue_dir: Path) -> None:
    main = wandb.init(project="p", name="main")
    side = wandb.init(project="p", name="side", reinit="create_new")
    assert side is not main and wandb.run is main
    side.log({"s": 1})
    main.log({"m": 1})
    side.finish()
    main.finish()
    assert wandb.run is None
    alone = wandb.init(project="p", reinit="create_new")
    assert wandb.run is None  # as wandb 0.31: create_new never sets the module-level run
    alone.finish()
    names = sorted(str(b["name"]) for b in run_bodies(queue_dir))
    assert names == sorted(["main", "side", alone.id])


def test_a_create_new_run_left_open_is_ended_at_exit(queue_dir: Path) -> None:
    code = ("import tablelog as wandb\n"
            "a = wandb.init(project='p', name='a')\n"
            "b = wandb.init(project='p', name='b', reinit='create_new')\n"
            "b.log({'x': 1})\n")
    done = subprocess.run([sys.executable, "-c", code], env=dict(os.environ),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with Queue(queue_dir) as q:
        entries = [wire.decode_entry(e.payload)
                   for e in q.claim_batch(max_entries=1000, max_bytes=1 << 30)]
    ends = [e.body["state"] for e in entries if e.kind == wire.Kind.RUN_END]
    assert ends == ["finished", "finished"], ends


def test_settings_map_onto_tablelog(queue_dir: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_MODE", "online")
    wandb.setup()
    settings = wandb.Settings(mode="offline", project="sp", run_group="sg", root_dir=str(
        tmp_path / "root"), x_stats_sampling_interval=1)
    with wandb.init(settings=settings) as run:
        assert (run.mode, run.project, run.group) == ("offline", "sp", "sg")
        assert run.settings.dir == tmp_path / "root"
    with wandb.init(project="arg", settings={"mode": "disabled", "project": "sp"}) as run:
        assert (run.mode, run.project) == ("disabled", "arg")  # the argument wins


def test_wandb_modes_dryrun_and_run(queue_dir: Path) -> None:
    with wandb.init(project="p", mode="dryrun") as run:
        assert run.mode == "offline"
    with pytest.raises(ValueError, match="mode"):
        wandb.init(project="p", mode="sometimes")


@pytest.mark.parametrize(("name", "value", "field", "expected"), [
    ("TABLELOG_QUEUE_MAX_BYTES", "1G", "queue_max_bytes", 1 << 30),
    ("TABLELOG_QUEUE_MAX_BYTES", "0", "queue_max_bytes", None),
    ("TABLELOG_AGENT_AUTOSTART", "false", "agent_autostart", False),
    ("TABLELOG_AGENT_AUTOSTART", "True", "agent_autostart", True),
    ("TABLELOG_AGENT_AUTOSTART", "0", "agent_autostart", False),
    ("TABLELOG_AGENT_IDLE_EXIT", "2.5", "agent_idle_exit_s", 2.5),
])
def test_tablelog_variables_parse(name: str, value: str, field: str, expected: object) -> None:
    assert getattr(SdkConfig.from_env({name: value}), field) == expected


@pytest.mark.parametrize(("name", "value"), [
    ("TABLELOG_QUEUE_MAX_BYTES", "lots"), ("TABLELOG_AGENT_AUTOSTART", "maybe"),
    ("TABLELOG_AGENT_IDLE_EXIT", "soon"), ("TABLELOG_MODE", "sometimes"),
    ("TABLELOG_AGENT_IDLE_EXIT", "-1"),
])
def test_a_tablelog_variable_that_does_not_parse_names_itself(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        SdkConfig.from_env({name: value})


def test_agent_variables_that_do_not_parse_name_themselves() -> None:
    from tablelog_agent.config import AgentConfig

    for name in ("TABLELOG_AGENT_IDLE_EXIT", "TABLELOG_AGENT_AUTH_BACKOFF",
                 "TABLELOG_AGENT_AUTH_BACKOFF_MAX"):
        with pytest.raises(ValueError, match=name):
            AgentConfig.from_env({name: "soon"})
