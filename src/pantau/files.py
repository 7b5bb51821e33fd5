"""Files holding the network map (event log, database): owner-only, whatever the umask."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

#: Files SQLite keeps beside a database; it creates them with the database file's mode.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def owner_only(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its folder) readable by its owner only, or tighten it to that.

    SQLite creates the WAL, SHM and journal files with the database file's permissions, so a
    database made 0600 here keeps them 0600 too; existing ones are tightened as well.

    Raises
    ------
    OSError
        When the file cannot be created or its mode changed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # the umask cannot widen 0600
    for file in (path, *(Path(f"{path}{s}") for s in SQLITE_SIDE_FILES)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            file.chmod(mode & 0o700)
            log.warning("file was readable by others, now owner-only path=%s", file)
    return path
