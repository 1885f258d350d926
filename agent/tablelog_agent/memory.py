"""Keep the agent's resident memory flat while it streams gigabytes of blobs.

glibc serves big allocations (>= 128 KiB) with mmap and returns them to the
OS on free, but it raises that threshold to the size of each freed mmap chunk
(up to 32 MiB). After the first 1 MiB read of a blob, 1 MiB buffers come from
the heap and the per-thread arenas instead, which keep the freed memory: the
agent's RSS creeps up by tens of megabytes during a large upload. Pinning the
threshold (what ``MALLOC_MMAP_THRESHOLD_=131072`` does) keeps every chunk
buffer an mmap that goes back to the OS when freed. Elsewhere a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024


def pin_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at `nbytes`; True when it was applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, nbytes))
