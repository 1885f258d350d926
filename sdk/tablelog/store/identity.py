"""The identity of a queue directory, recorded in its ``meta`` to tell a copy
from the original (see `tablelog.store.queue`)."""

from __future__ import annotations

import os
from pathlib import Path


def _read_id_file(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(200).strip()
    except OSError:
        return ""


def dir_identity(db_path: Path) -> str:
    """Where this queue database lives: the file's device and inode, the host name,
    the machine id and the boot id. A copy (another inode, host, machine) or a
    cloned image or restored snapshot that booted (another boot id) differs. A
    mismatch that was no copy (a reboot, a remount) only costs a new queue id.
    (os.uname rather than socket.gethostname: importing socket costs init() ~8 ms.)"""
    st = os.stat(db_path)
    return "|".join([f"{st.st_dev}:{st.st_ino}", os.uname().nodename,
                     _read_id_file("/etc/machine-id"),
                     _read_id_file("/proc/sys/kernel/random/boot_id")])
