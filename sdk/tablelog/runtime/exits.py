"""How a process ends a run: signals, sys.exit(n), uncaught exceptions, the exit hook.

Signals (installed by the first `init()` on the main thread, for SIGTERM, SIGINT and
SIGHUP, each only if its handler then is Python's own or another Python callable):

- When the handler found at init() is SIG_DFL (the process would die), ours commits
  what was logged and records the run's end (`preempted` for SIGTERM/SIGHUP, `killed`
  for SIGINT; exit code 128 + signal), bounded by TABLELOG_SIGNAL_TIMEOUT (2 s), then
  restores SIG_DFL and re-sends the signal: the process dies of it, exit status
  unchanged.
- When it is a callable (the user's, a framework's), ours commits what was logged
  (same bound) and notes the signal, then calls it; it decides what happens next.
  If the process then exits non-zero, the run ends `preempted`/`killed`.
- SIGINT with Python's default handler and SIG_IGN are left alone:
  KeyboardInterrupt is raised as usual (the end is recorded `killed` only if it is
  not caught), and an ignored signal stays ignored.
- A handler installed after init() replaces ours (it may chain to it); the exit
  hook still records the end, from the exit code.

Exit codes: `sys.exit` is wrapped to remember the code of a call on the main thread
(``raise SystemExit(n)`` and the builtin ``exit(n)`` are not seen: they end as code
0); an uncaught exception is seen in ``sys.last_value``, which Python sets before
calling ``sys.excepthook`` (so a replaced excepthook does not hide it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn

SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGTERM", "SIGINT", "SIGHUP"))
                if s is not None)

_previous: dict[int, Any] = {}  # signal -> the handler ours chains to
_exit_code: int | None = None  # the code of the last sys.exit() on the main thread
_original_exit: Callable[..., Any] | None = None
_baseline_last_value: object = None  # sys.last_value when the hooks were installed
_lock = threading.Lock()


def end_state(exit_code: int, *, signum: int | None = None, preempting: bool = False,
              interrupted: bool = False) -> str:
    """The state a run ends in (wandb's): exit code 0 is `finished` whatever happened
    before; else `killed` (SIGINT, KeyboardInterrupt, code 130), `preempted` (SIGTERM,
    SIGHUP, mark_preempting(), code 143 or 129: the 128 + signal convention), `failed`."""
    if exit_code == 0:
        return "finished"
    sigint = getattr(signal, "SIGINT", 2)
    preempt = [s for s in SIGNALS if s != sigint]
    if interrupted or signum == sigint or exit_code == 128 + sigint:
        return "killed"
    if preempting or signum in preempt or exit_code in [128 + s for s in preempt]:
        return "preempted"
    return "failed"


def code_of(status: object) -> int:
    """The exit status Python gives `sys.exit(status)`: None 0, an int itself, else 1."""
    if status is None:
        return 0
    return status if isinstance(status, int) else 1


def exit_outcome() -> tuple[int, bool]:
    """(exit code, interrupted) of the process now exiting, for the exit hook."""
    exc = getattr(sys, "last_value", None)
    if exc is not None and exc is not _baseline_last_value:
        if isinstance(exc, KeyboardInterrupt):
            return 128 + signal.SIGINT, True
        return 1, False
    return _exit_code or 0, False


def keep_sigint_exit() -> None:
    """After an uncaught KeyboardInterrupt, Python exits by re-sending SIGINT to itself
    (exit status -2 / 130), as a flag it reads after the exit hooks. CPython 3.11 clears
    that flag when any thread imports a module meanwhile, as the writer may while it
    commits (PIL's plugins for a first image), and the status silently becomes 1. Set
    it again (CPython only; nothing where the symbol is not there, e.g. 3.12+)."""
    with contextlib.suppress(Exception):
        import ctypes

        flag = ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt")
        flag.value = 1


def install(active: Callable[[], Any]) -> None:
    """Wrap sys.exit and install the signal handlers (main thread only); idempotent.
    `active()` returns the active run (or None) when a signal arrives."""
    global _original_exit, _baseline_last_value
    with _lock:
        if _original_exit is None:
            _original_exit = sys.exit
            sys.exit = _exit
            _baseline_last_value = getattr(sys, "last_value", None)
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        if signum in _previous:
            continue  # ours, from an earlier init()
        prev = signal.getsignal(signum)
        if prev is None or prev == signal.SIG_IGN:  # set outside Python, or ignored
            continue
        if signum == signal.SIGINT and prev is signal.default_int_handler:
            continue  # KeyboardInterrupt as usual; the exit hook sees it if uncaught
        try:
            signal.signal(signum, _make_handler(active))
        except (ValueError, OSError):  # e.g. an embedded interpreter
            continue
        _previous[signum] = prev


def _exit(status: object = None) -> NoReturn:
    """sys.exit, remembering the exit code for the run's end."""
    global _exit_code
    if threading.current_thread() is threading.main_thread():
        _exit_code = code_of(status)
    assert _original_exit is not None
    _original_exit(status)
    raise SystemExit(status)  # not reached: sys.exit raises


def _make_handler(active: Callable[[], Any]) -> Callable[[int, FrameType | None], Any]:
    def handler(signum: int, frame: FrameType | None) -> Any:
        prev = _previous.get(signum, signal.SIG_DFL)
        dies = not callable(prev)  # SIG_DFL: the process ends now
        run = active()
        if run is not None:
            timeout = run.settings.signal_timeout_s
            if dies:
                _bounded(lambda: run._end_by_signal(signum, timeout), timeout + 0.5)
            else:
                run._signal = signum
                _bounded(lambda: run._commit_by_signal(timeout), timeout + 0.5)
        if not dies:
            return prev(signum, frame)
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)  # dies here: the exit status is the signal's
        return None
    return handler


def _bounded(fn: Callable[[], Any], timeout: float) -> None:
    """Run `fn` on a helper thread and wait for it at most `timeout` s. The handler
    runs on the main thread, which may have been interrupted holding a lock `fn`
    needs: the bound then holds, and the process goes on dying."""
    def target() -> None:
        try:
            fn()
        except Exception:  # the process is ending: log, never raise into the handler
            logging.getLogger("tablelog").exception("tablelog: committing on a signal failed")
    t = threading.Thread(target=target, name="tablelog-signal", daemon=True)
    t.start()
    t.join(timeout)
