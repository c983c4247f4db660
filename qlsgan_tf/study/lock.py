"""One plain study process per study directory.

Two plain processes on one ``--out`` would both train every run. :func:`study_lock` holds an
exclusive ``fcntl.flock`` on ``OUT/.lock`` (released by the kernel when the process ends, so
a killed study never leaves a stale lock) and records the holder's pid for the message.
KerasTuner workers are exempt: they share the directory with their chief by design.
"""
import contextlib
import errno
import fcntl
import os
import pathlib
from typing import IO, Iterator

from qlsgan_tf.fsutil import StrPath

LOCK_FILE = ".lock"


class StudyLockedError(OSError):
    """Another process holds the study directory."""


def _holder(handle: IO[str]) -> str:
    try:
        handle.seek(0)
        return handle.read().strip() or "unknown"
    except OSError:
        return "unknown"


@contextlib.contextmanager
def study_lock(out_dir: StrPath, role: str = "local") -> Iterator[None]:
    """Holds ``OUT/.lock`` for the block; ``role == "worker"`` takes no lock.

    Raises:
      StudyLockedError: another plain (or chief) process holds the directory.
    """
    if role == "worker":
        yield
        return
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise StudyLockedError(
                f"another study process is using {out} (pid {_holder(handle)}); wait for it "
                f"to finish or stop it, then rerun to resume (lock: {path})") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
