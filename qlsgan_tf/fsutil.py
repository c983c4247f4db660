"""File creation that respects the user's umask, and atomic writes of any file.

``tempfile.mkstemp``/``mkdtemp`` create 0600/0700 entries whatever the umask, so a file
written to a temporary name and renamed into place would stay private: a shared or
distributed study directory becomes unreadable to the other users. :func:`chmod_umask`
gives such an entry the mode a plain ``open``/``mkdir`` would have given it.
"""
import contextlib
import fcntl
import io
import os
import pathlib
import socket
import tempfile
from typing import Callable, Iterator, List, Optional, TypeVar, Union

import numpy as np

StrPath = Union[str, "os.PathLike[str]"]
PathT = TypeVar("PathT", bound=StrPath)


def current_umask() -> int:
    """The process umask (read without changing it for other threads for long)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def chmod_umask(path: PathT, directory: bool = False) -> PathT:
    """Sets ``path`` to 0666 (files) or 0777 (directories) minus the umask."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())
    return path


def atomic_write_file(path: StrPath, write: Callable[[str], object]) -> pathlib.Path:
    """Calls ``write(tmp_path)`` then renames the result onto ``path``.

    A reader sees the old file or the whole new one, never half of it; the temporary file is
    removed on any failure (a full disk included) and gets the umask's mode.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=partial_prefix(path.name), suffix=path.suffix or ".tmp",
                               dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        chmod_umask(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


_PARTIAL = ".partial-"


def _host() -> str:
    return socket.gethostname().replace("-", "_") or "localhost"


def partial_prefix(name: str, pid: Optional[int] = None) -> str:
    """The start of the temporary file's name of a write of ``name`` by process ``pid``
    (default this one) on this host: ``.NAME.partial-PID@HOST-``."""
    return f".{name}{_PARTIAL}{os.getpid() if pid is None else pid}@{_host()}-"


def is_partial(path: StrPath) -> bool:
    """Whether ``path`` is the temporary file of an :func:`atomic_write_file` (finished or
    not, it is never a result: listings of results skip it)."""
    name = pathlib.Path(path).name
    return name.startswith(".") and _PARTIAL in name


def remove_dead_partials(directory: StrPath) -> List[pathlib.Path]:
    """Removes the temporary files that writers on this host left when they were killed
    (their pid no longer runs); a live writer's, or another host's, stays. Returns the
    removed paths."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for path in directory.iterdir():
        if not is_partial(path):
            continue
        owner = path.name.rsplit(_PARTIAL, 1)[1].rsplit("-", 1)[0]
        pid, _, host = owner.partition("@")
        if host == _host() and pid.isdigit() and process_gone(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            removed.append(path)
    return removed


def process_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs on this host (another user's counts as running): the
    test that tells a killed writer's leftovers from a live writer's."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return False


def atomic_write_npy(path: StrPath, array: np.ndarray) -> pathlib.Path:
    """Writes ``array`` as a ``.npy`` file atomically; returns its path.

    Like ``np.save``, ``.npy`` is appended to a path without it. The array is serialised in
    memory first and written with one ``write``: numpy's own writer reports a full disk as
    "N requested and M written", not as ``ENOSPC``.
    """
    path = pathlib.Path(path)
    if path.suffix != ".npy":
        path = path.with_name(path.name + ".npy")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(buffer.getvalue())

    return atomic_write_file(path, write)


@contextlib.contextmanager
def file_lock(path: StrPath) -> Iterator[None]:
    """Holds an exclusive ``flock`` on ``path`` (created with its folder) for the block; the
    kernel releases it when the holder dies."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
