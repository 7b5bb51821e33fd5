"""A throwaway PostgreSQL 15 (Debian's binaries) on a Unix socket in a temp dir, no TCP.

Run as the unprivileged ``postgres`` user when the tests run as root (initdb refuses root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


class Unavailable(RuntimeError):
    """PostgreSQL cannot run here; the message says why and what to install."""


@contextlib.contextmanager
def temp_postgres() -> Iterator[Path]:
    """Run a throwaway PostgreSQL 15; yield its socket folder; stop and delete it after."""
    if not (BIN / "initdb").exists() or not (BIN / "pg_ctl").exists():
        raise Unavailable(f"PostgreSQL 15 binaries not in {BIN}; apt-get install postgresql-15")
    owner = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and no 'postgres' user to run the server") from None
        owner = "postgres"
    root = Path(tempfile.mkdtemp(prefix=f"pantau-pg-{os.getpid()}-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if owner:
        os.chmod(root, 0o755)
        shutil.chown(root, owner)
        shutil.chown(sock, owner)
    run = {"check": True, "capture_output": True, "timeout": 120}
    initdb = [str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    opts = f"-k {sock} -c listen_addresses='' -c fsync=off -c max_connections=50"
    start = [str(BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log")]
    try:
        subprocess.run(_as_owner([*initdb, "-E", "UTF8", "--no-sync"], owner), **run)
        subprocess.run(_as_owner([*start, "-w", "-t", "60", "start"], owner), **run)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        message = exc.stderr.decode(errors="replace")
        raise RuntimeError(f"PostgreSQL did not start: {message}") from exc
    try:
        yield sock
    finally:
        stop = [str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(_as_owner(stop, owner), capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Path]:
    """Start a PostgreSQL server for the session; yield its socket folder."""
    try:
        server = temp_postgres()
        sock = server.__enter__()
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        yield sock
    finally:
        server.__exit__(None, None, None)


def new_database(sock: Path) -> str:
    """Create an empty database on the server; return its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"host={sock} user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@/{name}?host={sock}"
