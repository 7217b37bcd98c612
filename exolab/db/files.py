"""Files exolab writes hold patient data: private modes, created exclusively, no symlinks.

Files are created 0600 and folders 0700 whatever the umask; with ``EXOLAB_FILE_GROUP=1`` the
group the file is created with may read and write too (0660 / 0770), for a lab sharing one
SQLite database through a group folder (docs/security.md). Standard library only: the command
line applies :func:`restrict_process_umask` before anything else is imported. Backups and
exports get their final name only when complete through :mod:`exolab.services.safe_files`,
which creates its temporary files with :func:`create_exclusive`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, TextIO

GROUP_ENV = "EXOLAB_FILE_GROUP"


def group_shared() -> bool:
    return os.environ.get(GROUP_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def file_mode() -> int:
    return 0o660 if group_shared() else 0o600


def _umask_for(old: int) -> int:
    # Private: add the bits to the user's umask (never loosen it). Group setting: the group
    # may read and write, others nothing, whatever the umask said (the lab opted in).
    return 0o007 if group_shared() else old | 0o077


def restrict_process_umask() -> None:
    old = os.umask(0o077)
    os.umask(_umask_for(old))


@contextmanager
def private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        os.umask(_umask_for(old))
        yield
    finally:
        os.umask(old)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def create_exclusive(path: Path) -> int:
    """Create ``path`` (which must not exist, not even as a symlink: ``FileExistsError``)
    with the private mode and return its descriptor, open for writing."""
    with private_umask():
        return os.open(path, _EXCLUSIVE | getattr(os, "O_BINARY", 0), file_mode())


def create_private(path: Path, *, encoding: str = "utf-8", newline: str | None = "") -> TextIO:
    """Create ``path`` (which must not exist, not even as a symlink) and open it for writing."""
    fd = create_exclusive(path)
    try:
        return io.TextIOWrapper(io.FileIO(fd, "w"), encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        raise


def create_private_binary(path: Path) -> BinaryIO:
    """:func:`create_private` for bytes."""
    fd = create_exclusive(path)
    try:
        return io.BufferedWriter(io.FileIO(fd, "w"))
    except BaseException:
        os.close(fd)
        raise


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` and missing parents 0700 (0770 with the group setting)."""
    with private_umask():
        path.mkdir(parents=True, exist_ok=True)


def create_sqlite_file(path: Path) -> None:
    """Create an empty (valid) SQLite database file with a private mode if there is none;
    SQLite gives its -wal and -shm files the same mode as the database file."""
    if path.exists():
        return
    ensure_private_dir(path.parent)
    with suppress(FileExistsError):
        os.close(create_exclusive(path))


def remove_sqlite_files(path: Path) -> None:
    """Delete an SQLite database file with its journal files (those that are there)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def exposure(path: Path) -> str | None:
    """Why ``path`` is readable by more people than it should be, or None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & 0o006:
        return f"{path} can be read by every account on this computer (mode {mode & 0o777:o})"
    if mode & 0o060 and not group_shared():
        return (
            f"{path} can be read by its group (mode {mode & 0o777:o}); "
            f"set {GROUP_ENV}=1 if that is intended"
        )
    return None
