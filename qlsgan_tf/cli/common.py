"""The CLI's error boundary: every expected failure becomes one clear line.

Expected failures: bad input (``ValueError``, ``TypeError``), any ``OSError`` (missing or
unreadable files, a full disk), TensorFlow's errors (``ResourceExhaustedError`` when a write
fails, ...) and a stop requested with Ctrl-C or SIGTERM (exit 130). Bugs (any other
exception) keep their traceback, since a user needs it for a report.
"""
import contextlib
import errno
import os
import re
import sys
from typing import Any, Iterator, Optional

from qlsgan_tf import interrupts

EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad command-line value; reported as one line with exit status 2."""


def _first_line(err: object) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def _is_tf_error(err: BaseException) -> bool:
    tf = sys.modules.get("tensorflow")
    errors = getattr(tf, "errors", None)
    return errors is not None and isinstance(err, errors.OpError)


def _describe_tf_error(err: Any) -> str:
    """TensorFlow's message without its ``{{function_node ...}}`` prefix, plus the fix."""
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", _first_line(err.message))
    if "No space left on device" in text:
        text += "; free some space and rerun (finished work is kept)"
    return f"TensorFlow {type(err).__name__}: {text}"


def describe_os_error(err: OSError) -> str:
    """One line for an ``OSError``: what failed, on which file, and what to do."""
    name = err.filename if getattr(err, "filename", None) else None
    what = err.strerror or _first_line(err)
    line = f"{name}: {what}" if name else what
    if err.errno == errno.ENOSPC and "free some space" not in line:
        line += "; free some space and rerun (finished work is kept)"
    elif err.errno in (errno.EACCES, errno.EPERM) and "permission denied" not in line.lower():
        line += " (permission denied)"
    return line


@contextlib.contextmanager
def clear_errors(command: str, interrupted: Optional[str] = None) -> Iterator[None]:
    """Reports expected failures of ``qlsgan COMMAND`` as one line on stderr and exits.

    Exit status: 2 usage error, 1 failure, 130 interrupted (``interrupted``: the line to
    print then; by default it says that the files written so far are whole).
    """
    try:
        yield
    except UsageError as err:
        print(f"qlsgan {command}: {err}", file=sys.stderr)
        sys.exit(2)
    except (interrupts.StudyInterrupted, KeyboardInterrupt) as err:
        reason = str(err) or "SIGINT"
        print(f"qlsgan {command}: interrupted ({reason}); "
              + (interrupted or "every file written so far is whole"), file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as err:  # noqa: BLE001  bugs are re-raised below
        line = describe_error(err)
        if line is None:
            raise
        print(f"qlsgan {command}: error: {line}", file=sys.stderr)
        sys.exit(1)


def describe_error(err: Optional[BaseException]) -> Optional[str]:
    """One line for an expected failure, or None for a bug.

    A wrapper (KerasTuner's ``FatalError`` around a trial's error) is described by the
    expected failure it was raised from.
    """
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError):
            return describe_os_error(err)
        if isinstance(err, (ValueError, TypeError)):
            return str(err)
        if _is_tf_error(err):
            return _describe_tf_error(err)
        err = err.__cause__
    return None


def quiet_xla_banner() -> None:
    """Spends XLA's once-per-process "Compiled cluster using XLA!" log line out of sight.

    XLA writes it through absl's C++ log, which ``TF_CPP_MIN_LOG_LEVEL`` does not reach, the
    first time a process compiles a cluster; compiling one trivial function with the stderr
    file descriptor sent to /dev/null uses that once, so a study prints its progress bar and
    its result, not XLA's start-up notes.
    """
    import tensorflow as tf  # noqa: PLC0415 (only the commands that compile XLA pay for it)

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w", encoding="utf-8") as null:
            os.dup2(null.fileno(), 2)
            tf.function(lambda x: x + 1.0, jit_compile=True)(tf.zeros([1]))
    finally:
        os.dup2(saved, 2)
        os.close(saved)
