"""Cooperative stopping on Ctrl-C (SIGINT) and SIGTERM.

An exception raised by a signal handler lands wherever the main thread happens to be: inside
TensorFlow, KerasTuner or a destructor it may be turned into an ordinary error, caught, or
ignored. So the handlers installed by :func:`handle_signals` only set a flag. Training loops
poll it between batches (``training.callbacks.StopOnRequest``) and the study between runs
(:func:`check_stop`), which raises :class:`StudyInterrupted` at a point where every file is
whole. A second signal while the first is being honoured raises ``KeyboardInterrupt`` at once.

TensorFlow-free: importable from any layer.
"""
import contextlib
import signal
import threading
from types import FrameType
from typing import Any, Dict, Iterator, Optional, Sequence

# "reason" once a stop was requested; set and cleared by single dict operations.
_state: Dict[str, str] = {}


class StudyInterrupted(BaseException):
    """A stop was requested (SIGINT/SIGTERM); raised by :func:`check_stop`.

    A ``BaseException`` like ``KeyboardInterrupt``, so ``except Exception`` clauses in
    libraries (KerasTuner marks a trial that raises as failed) let it through.
    """


def request_stop(reason: Any = "stop requested") -> None:
    """Sets the stop flag; the first reason given is kept (``dict.setdefault``: atomic, so a
    signal handler and any thread may call it at any time without a lock)."""
    _state.setdefault("reason", str(reason))


def stop_requested() -> bool:
    """True once a stop was requested (until :func:`reset`)."""
    return "reason" in _state


def stop_reason() -> Optional[str]:
    """Why the stop was requested (None when it was not)."""
    return _state.get("reason")


def reset() -> None:
    """Clears the stop flag."""
    _state.pop("reason", None)


def check_stop() -> None:
    """Raises :class:`StudyInterrupted` when a stop was requested."""
    reason = _state.get("reason")
    if reason is not None:
        raise StudyInterrupted(reason)


def _handler(signum: int, _frame: Optional[FrameType]) -> None:
    if stop_requested():
        raise KeyboardInterrupt  # second signal: the user insists
    request_stop(signal.Signals(signum).name)


@contextlib.contextmanager
def handle_signals(
        signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Within the block, the given signals set the stop flag instead of raising.

    Previous handlers are restored on exit. Outside the main thread (where Python cannot
    install handlers) the block runs with the handlers unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: Dict[signal.Signals, Any] = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, _handler)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
