"""The CLI's error boundary: every expected failure becomes one clear line.

Expected failures: bad input (``ValueError``, ``TypeError``), any ``OSError`` (missing or
unreadable files, a full disk), TensorFlow's errors (``ResourceExhaustedError`` when a write
fails, ...) and a stop requested with Ctrl-C or SIGTERM (exit 130). Bugs (any other
exception) keep their traceback, since a user needs it for a report.
"""
import contextlib
import errno
import sys

from qlsgan_tf import interrupts

EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad command-line value; reported as one line with exit status 2."""


def _first_line(err):
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def _is_tf_error(err):
    tf = sys.modules.get("tensorflow")
    errors = getattr(tf, "errors", None)
    return errors is not None and isinstance(err, errors.OpError)


def describe_os_error(err):
    """One line for an ``OSError``: what failed, on which file, and what to do."""
    name = err.filename if getattr(err, "filename", None) else None
    what = err.strerror if err.strerror and name else _first_line(err)
    line = f"{name}: {what}" if name else what
    if err.errno == errno.ENOSPC:
        line += "; free some space and rerun (finished work is kept)"
    elif err.errno in (errno.EACCES, errno.EPERM) and "permission denied" not in line.lower():
        line += " (permission denied)"
    return line


@contextlib.contextmanager
def clear_errors(command, interrupted=None):
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
    except OSError as err:
        print(f"qlsgan {command}: error: {describe_os_error(err)}", file=sys.stderr)
        sys.exit(1)
    except (ValueError, TypeError) as err:
        print(f"qlsgan {command}: error: {err}", file=sys.stderr)
        sys.exit(1)
    except Exception as err:  # pylint: disable=broad-except
        if not _is_tf_error(err):
            raise
        print(f"qlsgan {command}: error: TensorFlow {type(err).__name__}: "
              f"{_first_line(err.message if hasattr(err, 'message') else err)}",
              file=sys.stderr)
        sys.exit(1)
