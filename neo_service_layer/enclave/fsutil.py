"""Files the enclave owns: private directories, and new files written atomically and never overwritten."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from neo_service_layer.errors import ConfigurationError
from neo_service_layer.logging import get_logger

log = get_logger("nsl.enclave.fs")

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SHARED_DIR_MODE = 0o710


def _own_dir(path: Path, mode: int) -> os.stat_result:
    """Create ``path`` (``mode``) if missing; its stat, or ConfigurationError unless it is our directory."""
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"{path} is not a directory")
    if info.st_uid != os.geteuid():
        raise ConfigurationError(
            f"{path} belongs to uid {info.st_uid}, not to this process (uid {os.geteuid()})"
        )
    return info


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) or check the existing one: ours, and no access for others.

    An existing directory of ours that others may enter is tightened to 0700 (the sealed state and
    the socket live there); a directory owned by someone else is refused, since its owner could swap
    our files (e.g. replace the socket with one of their own).
    """
    info = _own_dir(path, PRIVATE_DIR_MODE)
    if info.st_mode & 0o077:
        log.warning("tightening directory permissions", path=str(path), mode=oct(info.st_mode & 0o777))
        path.chmod(PRIVATE_DIR_MODE)


def ensure_shared_dir(path: Path, gid: int) -> None:
    """Create ``path`` or check the existing one: ours, in group ``gid``, mode 0710.

    For the socket of an enclave that runs as its own user: members of the group may reach a file
    inside (connect to the socket) but neither list the directory nor change it, so none of them can
    replace the socket with one of their own and impersonate the enclave to the others.
    """
    info = _own_dir(path, SHARED_DIR_MODE)
    if info.st_gid != gid:  # no chown(2) otherwise: a system call filter may leave it out
        try:
            os.chown(path, -1, gid)
        except PermissionError as exc:
            raise ConfigurationError(f"cannot give {path} to group {gid}: this process is not in it") from exc
    if stat.S_IMODE(info.st_mode) != SHARED_DIR_MODE:
        path.chmod(SHARED_DIR_MODE)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry change (create, link, unlink) to disk (POSIX fsync(2) on the directory)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_file(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` (mode 0600) atomically unless ``path`` exists; True if we created it.

    The data goes to a fresh temporary file that is fsync'ed and then hard-linked to ``path``:
    link(2) fails with EEXIST instead of replacing an existing file, so unlike rename(2) it can never
    overwrite what another process (or an earlier start) wrote, and a crash leaves either no file or
    the complete one. The temporary name is removed in every case.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def read_private_file(path: Path, *, max_bytes: int) -> bytes:
    """Read a regular file that is ours and closed to group and others; ConfigurationError if not.

    O_NOFOLLOW refuses a symlink planted in place of the file; the checks use fstat on the opened
    descriptor, so the file cannot be swapped between check and read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigurationError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"{path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise ConfigurationError(f"{path} belongs to uid {info.st_uid}, not to this process")
        if info.st_mode & 0o077:
            raise ConfigurationError(
                f"{path} has mode {info.st_mode & 0o777:04o}; it must be 0600 (run: chmod 600 {path})"
            )
        if info.st_size > max_bytes:
            raise ConfigurationError(f"{path} is larger than {max_bytes} bytes")
        chunks = []
        while chunk := os.read(fd, max_bytes + 1):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
