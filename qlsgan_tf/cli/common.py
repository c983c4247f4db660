"""Helpers shared by the subcommands: turning library errors into one clear line."""
import contextlib
import sys


class UsageError(Exception):
    """A bad command-line value; reported as one line with exit status 2."""


@contextlib.contextmanager
def clear_errors(command):
    """Reports the library's input errors (ValueError, FileNotFoundError, ...) as one line.

    Bugs (any other exception) keep their traceback, since a user needs it for a report.
    """
    try:
        yield
    except UsageError as err:
        print(f"qlsgan {command}: {err}", file=sys.stderr)
        sys.exit(2)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, NotADirectoryError,
            IsADirectoryError, PermissionError) as err:
        print(f"qlsgan {command}: error: {err}", file=sys.stderr)
        sys.exit(1)
