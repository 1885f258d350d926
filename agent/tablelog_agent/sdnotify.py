"""systemd's notify protocol: datagrams like ``READY=1`` to ``$NOTIFY_SOCKET``.

A few lines instead of a dependency. Without NOTIFY_SOCKET (not run by systemd
with Type=notify) every call is a no-op, so the agent sends unconditionally.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


class Notifier:
    """Sends state lines to systemd; never raises (a lost notification is not fatal)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or ""
        if address.startswith("@"):  # abstract namespace socket
            address = "\0" + address[1:]
        self._address = address
        self.watchdog_interval_s = _watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        """True when run by systemd with a notify socket."""
        return bool(self._address)

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; True when it was sent."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto("\n".join(lines).encode(), self._address)
        except OSError:
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """Startup is complete (Type=notify units become active now)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """Still alive: resets the WatchdogSec timer."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """Shutdown has begun."""
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """A one-line state shown by `systemctl status`."""
        return self.notify(f"STATUS={text}")


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of WatchdogSec (systemd's advice), or None when no watchdog is asked for.

    WATCHDOG_PID, when set, must be ours: a child must not ping for its parent.
    """
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None
