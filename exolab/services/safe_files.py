"""Files that appear under their final name only when complete and verified (docs/reliability.md).

A backup or an export is written to a temporary file in the target directory, created
exclusively (``O_EXCL``; ``O_NOFOLLOW`` where the system has it, so a planted symlink is never
followed) with the private mode of :mod:`exolab.db.files` (0600; 0660 with
``EXOLAB_FILE_GROUP=1``), checked, flushed to disk, and then linked under the final name, which
fails rather than replaces when that name exists. A process killed half way leaves only its
temporary file (``.NAME.exolab-tmp-PID``), which the next write to the same name removes once
its process is gone; the final name never holds a partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from exolab.db.files import create_exclusive, ensure_private_dir
from exolab.services.errors import Conflict, ExolabError

TEMP_MARK = ".exolab-tmp-"


@dataclass
class TempTarget:
    """The temporary file being written, its open descriptor, and the final name."""

    temp: Path
    final: Path
    fd: int
    replace: bool = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_name(final: Path, pid: int | None = None) -> Path:
    return final.with_name(f".{final.name}{TEMP_MARK}{os.getpid() if pid is None else pid}")


def remove_stale_temps(final: Path) -> list[Path]:
    """Temporary files of earlier writes to ``final`` whose process has ended."""
    removed: list[Path] = []
    prefix = f".{final.name}{TEMP_MARK}"
    if not final.parent.is_dir():
        return removed
    for p in final.parent.iterdir():
        if not p.name.startswith(prefix):
            continue
        tail = p.name[len(prefix) :]
        if tail.isdigit() and int(tail) != os.getpid() and not _pid_alive(int(tail)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
            removed.append(p)
    return removed


def check_final_name(final: Path, *, replace: bool = False) -> None:
    """Refuse a final name that exists (or, with ``replace``, one that is not a plain file)."""
    if replace and not final.is_symlink() and (final.is_file() or not final.exists()):
        return
    if final.is_symlink() or final.exists():
        what = "a directory" if final.is_dir() else "a symbolic link" if final.is_symlink() else ""
        raise Conflict(f"{final} exists{f' ({what})' if what else ''}; choose a new file name")


@contextlib.contextmanager
def exclusive_temp(final: Path, *, replace: bool = False) -> Iterator[TempTarget]:
    """Create the temporary file for ``final`` (exclusively, private, no symlink followed).

    The caller writes it (through the descriptor or by path), verifies it, and calls
    :func:`publish`. Whatever happens before ``publish``, the temporary file is removed.
    ``replace``: an existing plain file of that name is replaced (exports); otherwise an
    existing name is refused (backups)."""
    final = final.expanduser().absolute()
    check_final_name(final, replace=replace)
    ensure_private_dir(final.parent)  # 0700 (docs/security.md)
    remove_stale_temps(final)
    temp = temp_name(final)
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()  # our own pid: a leftover of this very process
    try:
        fd = create_exclusive(temp)  # O_EXCL|O_NOFOLLOW, 0600 (docs/security.md)
    except FileExistsError:
        raise Conflict(f"{temp} exists; another exolab process is writing {final}") from None
    target = TempTarget(temp, final, fd, replace)
    try:
        yield target
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def same_file(target: TempTarget) -> bool:
    """Whether the temporary path still names the file this process created."""
    try:
        st = os.lstat(target.temp)
    except FileNotFoundError:
        return False
    own = os.fstat(target.fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def publish(target: TempTarget, verify: Callable[[Path], None] | None = None) -> Path:
    """Verify the written temporary file, flush it to disk and give it its final name."""
    if not same_file(target):
        raise ExolabError(f"{target.temp} was replaced while it was written; nothing was kept")
    if verify is not None:
        verify(target.temp)
    os.fsync(target.fd)
    if target.replace:
        check_final_name(target.final, replace=True)
        os.replace(target.temp, target.final)
        _fsync_dir(target.final.parent)
        return target.final
    try:
        os.link(target.temp, target.final)  # never replaces an existing file
    except FileExistsError:
        raise Conflict(f"{target.final} exists; choose a new file name") from None
    except OSError:  # a file system without hard links
        if target.final.exists() or target.final.is_symlink():
            raise Conflict(f"{target.final} exists; choose a new file name") from None
        os.replace(target.temp, target.final)
    with contextlib.suppress(FileNotFoundError):
        target.temp.unlink()
    _fsync_dir(target.final.parent)
    return target.final


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (an import's file, a backup)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
