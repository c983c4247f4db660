"""A worker's calls to its chief oracle, bounded in time and stoppable.

KerasTuner's ``OracleClient`` calls the chief over gRPC with ``wait_for_ready=True`` and a
one-hour timeout: a worker whose chief never started, or died, waits an hour inside gRPC,
where the study's SIGTERM/Ctrl-C flag (``qlsgan_tf.interrupts``) is never looked at. Here every
call is made in short attempts (``ATTEMPT_S``); between them the stop flag is polled, and after
``chief_timeout()`` seconds without an answer the worker fails with one line
(:class:`ChiefUnreachableError`). A chief that answers an error is reported at once.
"""
import os
import time
from typing import Any, Callable, Optional, TypeVar

from qlsgan_tf import interrupts

ATTEMPT_S = 2.0
DEFAULT_TIMEOUT_S = 600.0
TIMEOUT_ENV = "QLSGAN_CHIEF_TIMEOUT"
R = TypeVar("R")


class ChiefUnreachableError(ConnectionError):
    """The chief oracle did not answer within the bounded time."""


def chief_address() -> str:
    """``ip:port`` of the chief oracle, from KerasTuner's environment variables."""
    return (f"{os.environ.get('KERASTUNER_ORACLE_IP', '')}:"
            f"{os.environ.get('KERASTUNER_ORACLE_PORT', '')}")


def chief_timeout() -> float:
    """Seconds a worker waits for its chief: ``$QLSGAN_CHIEF_TIMEOUT`` or 600."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    return value


def _unreachable(what: str, limit: float) -> ChiefUnreachableError:
    return ChiefUnreachableError(
        f"no answer from the chief oracle at {chief_address()} for {limit:g} s ({what}): "
        "start the chief (KERASTUNER_TUNER_ID=chief) with the same command, check "
        f"KERASTUNER_ORACLE_IP/PORT, or set {TIMEOUT_ENV}; finished runs are kept")


def call_chief(rpc: Callable[[float], R], what: str, limit: Optional[float] = None) -> R:
    """``rpc(timeout)`` in attempts of ``ATTEMPT_S`` seconds until it answers; the stop flag
    is polled between attempts. Raises ``ChiefUnreachableError`` after ``limit`` seconds
    (default ``chief_timeout()``) without an answer."""
    import grpc

    limit = chief_timeout() if limit is None else limit
    deadline = time.monotonic() + limit
    retry = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    while True:
        interrupts.check_stop()
        left = deadline - time.monotonic()
        if left <= 0:
            raise _unreachable(what, limit)
        try:
            return rpc(min(ATTEMPT_S, left))
        except grpc.RpcError as err:
            code = err.code() if callable(getattr(err, "code", None)) else None
            if code not in retry:
                details = err.details() if callable(getattr(err, "details", None)) else err
                raise ConnectionError(f"the chief oracle at {chief_address()} refused {what}: "
                                      f"{getattr(code, 'name', code)} ({details})") from None
            if code == grpc.StatusCode.UNAVAILABLE:
                time.sleep(min(0.2, max(left, 0)))


class BoundedStub:
    """Stands in for KerasTuner's ``OracleStub``: each method is called through
    :func:`call_chief` (its own ``timeout`` and ``wait_for_ready`` are replaced)."""

    def __init__(self, stub: Any):
        self._stub = stub

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)

        def call(request: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("timeout", None)
            kwargs["wait_for_ready"] = True
            return call_chief(lambda t: method(request, *args, timeout=t, **kwargs), name)

        return call


def bound_oracle_client(oracle: Any) -> Any:
    """Makes a worker's ``OracleClient`` (``tuner.oracle``) bounded; other oracles as they
    are. Returns ``oracle``."""
    stub = getattr(oracle, "__dict__", {}).get("stub")
    if stub is not None and not isinstance(stub, BoundedStub):
        oracle.stub = BoundedStub(stub)
    return oracle


def wait_for_chief(log: Callable[[str], object] = print, limit: Optional[float] = None
                   ) -> None:
    """Blocks until the chief's gRPC server accepts connections (a worker checks this before
    preparing anything); ``ChiefUnreachableError`` after ``limit`` seconds, and the stop flag
    polled all along."""
    import grpc

    limit = chief_timeout() if limit is None else limit
    channel = grpc.insecure_channel(chief_address())
    try:
        ready = grpc.channel_ready_future(channel)
        deadline = time.monotonic() + limit
        said = False
        while True:
            interrupts.check_stop()
            left = deadline - time.monotonic()
            if left <= 0:
                raise _unreachable("connecting", limit)
            try:
                ready.result(timeout=min(ATTEMPT_S / 4, left))
                return
            except grpc.FutureTimeoutError:
                if not said:
                    log(f"waiting for the chief oracle at {chief_address()} (at most "
                        f"{limit:g} s)")
                    said = True
    finally:
        channel.close()
