"""SIGINT and SIGTERM from the first instant of ``python -m bulk``, not only once it runs.

Importing the engine takes a while (aiohttp, phonenumbers, ...), and until the event loop
installs its own handlers a signal would kill the process (exit -15) or print a
``KeyboardInterrupt`` traceback. :func:`hold` is called first thing when the process was
started as the command (``bulk/__init__.py`` checks ``sys.orig_argv``; importing the
library anywhere else changes nothing): a signal is then only *recorded*, and the command
stops cleanly as soon as the run begins: it stops at once, writes its reports and exits
75 (nothing is lost: the checkpoint keeps every resident). Only a prompt is interrupted
(:func:`interrupting` puts the original handlers back around it).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any, Final

__all__ = ["hold", "interrupting", "received", "release", "started_as_command"]

_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_state: dict[str, Any] = {"received": None, "saved": None}


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _state["received"] is None:
        _state["received"] = signum


def started_as_command() -> bool:
    """Whether this process runs ``python -m bulk`` or the ``schlage-bulk`` script."""
    argv = list(getattr(sys, "orig_argv", ()))
    if "-m" in argv:
        index = argv.index("-m")
        return argv[index + 1 : index + 2] == ["bulk"]
    return bool(sys.argv) and sys.argv[0].endswith("schlage-bulk")


def hold() -> None:
    """Record SIGINT/SIGTERM instead of dying (until :func:`release`)."""
    saved = {}
    for sig in _SIGNALS:
        try:
            saved[sig] = signal.signal(sig, _on_signal)
        except ValueError:  # not the main thread: nothing to hold
            return
    if _state["saved"] is None:  # the handlers to put back are the very first ones
        _state["saved"] = saved


@contextlib.contextmanager
def interrupting() -> Iterator[None]:
    """Within the block the original handlers are back (Ctrl-C at a prompt raises
    ``KeyboardInterrupt``); a signal recorded before it raises one at once."""
    if _state["received"] is not None:
        raise KeyboardInterrupt
    saved = _state["saved"]
    if saved:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    try:
        yield
    finally:
        if saved:
            hold()


def received() -> signal.Signals | None:
    """The first signal recorded so far, if any."""
    value = _state["received"]
    return None if value is None else signal.Signals(value)


def release() -> None:
    """Put back the handlers :func:`hold` replaced and forget what was recorded."""
    saved = _state["saved"]
    _state.update(received=None, saved=None)
    if saved:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
