"""Writing files the runbook was asked to write, and reading capped bytes of files someone else wrote.

Reports roots and export paths can be shared: a link planted where a file is expected must never
be followed (its target would be truncated and overwritten), and nothing is replaced that the
caller did not name. One opener for every such write, ``O_NOFOLLOW`` on the last component.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO

from ses_runbook.core.errors import OutputError


def _open_fd(path: str | Path, mode: int, overwrite: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError(f"'{path}' is a symbolic link; not written through it") from None
        if exc.errno == errno.EEXIST:
            raise OutputError(f"'{path}' exists; not overwritten") from None
        raise OutputError(f"'{path}' cannot be written: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputError(f"'{path}' is not a regular file; not written")
    os.set_blocking(fd, True)
    os.fchmod(fd, mode)
    return fd


def open_for_writing(
    path: str | Path, mode: int = 0o644, overwrite: bool = True, newline: str | None = None
) -> IO[str]:
    """``path`` opened for writing text (UTF-8; an unencodable character written as an escape), never
    through a symbolic link and never onto something that is not a regular file. ``overwrite=False``
    refuses a file that is already there. ``OutputError`` says which in one line."""
    fd = _open_fd(path, mode, overwrite)
    return os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline=newline)


def write_text(path: str | Path, text: str, mode: int = 0o644, overwrite: bool = True) -> None:
    with open_for_writing(path, mode, overwrite) as out:
        out.write(text)


def write_bytes(path: str | Path, data: bytes, mode: int = 0o644) -> None:
    """``write_text`` for bytes (figures): never through a link."""
    with os.fdopen(_open_fd(path, mode, True), "wb") as out:
        out.write(data)


def read_capped(path: str | Path, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes of a regular file (one more than the cap, so the reader can
    tell it was too big), without reading a huge or endless file whole."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(max_bytes + 1)
    finally:
        os.close(fd)


def new_folder(path: str | Path, option: str = "--out") -> Path:
    """``path`` as an empty folder to write a report into: created if missing; one that already holds
    files is refused (``OutputError``), so no earlier report is overwritten and no link planted in it
    is written through."""
    folder = Path(path)
    if folder.is_symlink():
        raise OutputError(f"{option} '{folder}' is a symbolic link; give a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise OutputError(f"{option} '{folder}' holds files; give a new or empty folder (nothing is overwritten)")
    return folder
