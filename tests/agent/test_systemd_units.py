"""The unit files in systemd/: `systemd-analyze verify` clean, and the agent's (and
server's) sandbox exposure at most 2.0 by `systemd-analyze security`.

On Linux the tool is required (CI installs the `systemd` package): a missing
tool fails the test with that advice rather than skipping it unnoticed.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tablelog_agent.config import AgentConfig

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
MAX_EXPOSURE = 2.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="systemd units are Linux-only")


def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is not installed: install the systemd package "
                    "(Debian/Ubuntu: apt-get install -y systemd) to check the unit files")
    return tool


def installed_copy(tmp_path: Path) -> Path:
    """The units as an admin would install them, ExecStart pointing at a real binary
    (verify checks that it exists and is executable)."""
    tablelog = Path(sys.executable).parent / "tablelog"
    binary = str(tablelog if tablelog.exists() else shutil.which("tablelog") or tablelog)
    out = tmp_path / "units"
    out.mkdir()
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/usr/local/bin/tablelog", binary)
        text = text.replace("%h/.local/bin/tablelog", binary)
        name = "tablelog-agent.service" if unit.name == "tablelog-agent.user.service" \
            else unit.name
        (out / name).write_text(text)
    return out


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([analyze(), *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_verify_is_clean(tmp_path: Path) -> None:
    units = installed_copy(tmp_path)
    done = run("verify", str(units / "tablelog-agent@alice.service"),
               str(units / "tablelog-server.service"))
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout + done.stderr)
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    done = run("verify", "--user", str(units / "tablelog-agent.service"),
               env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout + done.stderr)


def exposure(units: Path, unit: str) -> str:
    """`systemd-analyze security`'s overall exposure of `unit` in `units`, as it prints it
    ("1.1")."""
    done = run("--offline=true", "security", str(units / unit))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    return match.group(1)


@pytest.mark.parametrize("unit", ["tablelog-agent@alice.service", "tablelog-server.service"])
def test_security_exposure_is_low(tmp_path: Path, unit: str) -> None:
    assert float(exposure(installed_copy(tmp_path), unit)) <= MAX_EXPOSURE


def test_the_exposure_the_docs_quote_is_the_one_systemd_analyze_gives(tmp_path: Path) -> None:
    units = installed_copy(tmp_path)
    agent = exposure(units, "tablelog-agent@alice.service")
    server = exposure(units, "tablelog-server.service")
    readme = (ROOT / "README.md").read_text()
    agent_doc = (ROOT / "docs" / "agent.md").read_text()
    assert re.findall(r"hardened to an exposure of (\d+\.\d+)", readme) == [agent]
    quoted = re.findall(r"`systemd-analyze security` exposure (\d+\.\d+)\s+for the agent "
                        r"template and (\d+\.\d+) for the server", agent_doc)
    assert quoted == [(agent, server)], (agent, server, quoted)


def _service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser["Service"]


@pytest.mark.parametrize("name", ["tablelog-agent@.service", "tablelog-agent.user.service"])
def test_agent_units_use_notify_watchdog_and_outlast_the_drain(name: str) -> None:
    service = _service(name)
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert int(service["WatchdogSec"]) >= 2
    assert service["Restart"] == "on-failure"
    assert float(service["TimeoutStopSec"]) > AgentConfig(dir=Path(".")).drain_timeout_s
    assert service["UMask"] == "0077"
