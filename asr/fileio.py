"""The one way files are written: atomically, with the permissions a user expects.

Why one helper: a kill at any moment must leave either the old or the new file, never half
of one, and every file asr writes (models, configs, manifests, reports, LMs) must come out
readable like any other (0644 under the usual umask 022; ``tempfile.mkstemp`` gives 0600).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from asr.errors import AsrError

TEMP_PREFIX = "."  # temp files are hidden: ``.NAME.XXXXXXXX.tmp<suffix>`` beside the target


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_private_dir(parent: Path, prefix: str) -> Path:
    """A new uniquely named folder in ``parent`` with the umask's permissions (not 0700)."""
    while True:
        path = Path(parent) / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o777)
            return path
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``path``; when the block succeeds, fsync it and rename it over
    ``path``; when it fails, remove it.

    The temp file exists (empty, mode 0666 minus the umask) when the block starts, so writers
    that open it by name (Keras, NumPy) keep those permissions. ``suffix`` is for writers that
    insist on an extension (``.keras``, ``.npz``).
    """
    path = Path(path)
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}.tmp{suffix}")
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temp
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    with atomic_path(path) as temp:
        temp.write_text(text, encoding="utf-8", newline="\n")
    return Path(path)


def stale_temp_files(folder: Path) -> list[Path]:
    """Temp files a killed write left in ``folder`` (the files they were to replace are intact)."""
    return sorted(Path(folder).glob(f"{TEMP_PREFIX}*.tmp*"))


def refuse_overwrite(
    path: str | os.PathLike, force: bool, folder: bool = False, make_parents: bool = False
) -> None:
    """Before any work: nothing a user made is overwritten unless they say so, and the
    output can be written where it is named (its folder exists, or with ``make_parents``
    can be made; a file's name is not a folder's). ``folder``: the output is itself a folder
    (a SavedModel)."""
    path = Path(path)
    if path.is_dir() and not folder:
        raise AsrError(f"{path}: is a folder; name a file to write, e.g. {path / 'out'}")
    if folder and path.exists() and not path.is_dir():
        raise AsrError(f"{path}: is a file, where a folder is written; choose another path")
    if path.exists() and not force:
        raise AsrError(f"{path}: already exists; pass --force to overwrite it")
    parent = path.parent
    while make_parents and not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the nearest folder that exists must be a folder
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise AsrError(f"{path}: its folder {parent} {what}; create the folder or choose another")


def file_mode(path: str | os.PathLike) -> int:
    """Permission bits of ``path`` (for tests and checks)."""
    return os.stat(path).st_mode & 0o777


def default_file_mode() -> int:
    """The mode a newly created file gets under the current umask (0644 under 022)."""
    return 0o666 & ~_umask()
