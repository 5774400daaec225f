"""A throwaway PostgreSQL server for the tests (issue 15): Debian's server binaries, a data
directory in a temporary folder, a unix socket only (no TCP port to collide on), fsync off
(tests only: a crash of the test server loses nothing anyone needs).

    with pg_server.running(tmp_path) as server:
        url = server.create_database("t1")   # postgresql://...?host=<socket dir>

As root, PostgreSQL refuses to run, so the server runs as the `postgres` system user (or
TOUCHPOINT_TEST_PG_USER). On a machine without the binaries the tests that need it are
skipped with a message; under CI (CI set) they fail, since .ci/run installs them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .browser import in_ci

BIN_GLOB = "/usr/lib/postgresql/*/bin"
SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "listen_addresses=''",
    "max_connections=200",
)


def binaries() -> Path | None:
    """The newest installed server's bin directory, or None."""
    found = sorted(
        (Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Server:
    bin: Path
    data: Path
    socket_dir: Path
    user: str
    port: int = 5432

    def _as_owner(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = [] if os.getuid() != 0 else ["runuser", "-u", self.user, "--"]
        return subprocess.run(
            [*prefix, *command], check=check, capture_output=True, text=True, timeout=120
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = self._as_owner(
            str(self.bin / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-d",
            database,
            "-c",
            sql,
        )
        return result.stdout.strip()

    def create_database(self, name: str, template: str = "template1") -> str:
        """A new empty database (a copy of `template`: cheap, a file copy); its URL."""
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)


def _owner() -> str:
    user = os.environ.get("TOUCHPOINT_TEST_PG_USER", "postgres")
    if os.getuid() != 0:
        return pwd.getpwuid(os.getuid()).pw_name
    try:
        pwd.getpwnam(user)
    except KeyError:
        unavailable(f"no '{user}' user to run PostgreSQL as (root may not)")
    return user


def _folders(folder: Path, name: str, user: str) -> tuple[Path, Path, Path]:
    """(base, data, sockets) under `folder`, reachable by the server's user."""
    base = Path(folder) / name
    data, sockets = base / "data", base / "run"
    sockets.mkdir(parents=True)
    if os.getuid() == 0:
        # The server's user must reach its folders (tmp_path is root's, mode 700).
        for path in (*reversed(base.parents), base):
            if str(path).startswith(str(Path(folder).anchor)) and path != Path("/"):
                path.chmod(path.stat().st_mode | 0o011)
        shutil.chown(base, user)
        shutil.chown(sockets, user)
    return base, data, sockets


@contextmanager
def _started(server: Server, base: Path, durable: bool) -> Iterator[Server]:
    settings = [s for s in SETTINGS if not (durable and s.endswith("=off"))]
    options = " ".join(f"-c {s}" for s in settings) + f" -k {server.socket_dir}"
    pg_ctl = str(server.bin / "pg_ctl")
    server._as_owner(pg_ctl, "-D", str(server.data), "-l", str(base / "log"), "-o", options,
                     "-w", "start")  # fmt: skip
    try:
        yield server
    finally:
        server._as_owner(pg_ctl, "-D", str(server.data), "-m", "immediate", "stop", check=False)


@contextmanager
def running(folder: Path, durable: bool = False) -> Iterator[Server]:
    """Start a fresh server with its data and socket under `folder`; stop it afterwards.

    durable: PostgreSQL's own defaults for fsync, synchronous_commit and full_page_writes
    (an acknowledged commit survives a crash), as benchmarks of the click path need; tests
    turn them off for speed."""
    found = binaries()
    if found is None:
        unavailable("PostgreSQL server binaries not installed: apt-get install postgresql")
    assert found is not None
    user = _owner()
    base, data, sockets = _folders(folder, "pg", user)
    server = Server(found, data, sockets, user)
    server._as_owner(str(found / "initdb"), "-D", str(data), "-A", "trust", "-U", user,
                     "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
    with _started(server, base, durable):
        yield server


@contextmanager
def standby(primary: Server, folder: Path) -> Iterator[Server]:
    """A hot standby of `primary` (pg_basebackup, then streaming replication), read-only,
    with its own data and socket under `folder`; stopped afterwards."""
    base, data, sockets = _folders(folder, "pg-standby", primary.user)
    replica = Server(primary.bin, data, sockets, primary.user)
    replica._as_owner(str(primary.bin / "pg_basebackup"), "-D", str(data), "-R", "-X", "stream",
                      "-c", "fast", "-h", str(primary.socket_dir), "-p", str(primary.port),
                      "-U", primary.user,
                      "--no-sync")  # fmt: skip
    with _started(replica, base, durable=False):
        yield replica


def replayed(primary: Server, replica: Server, timeout_s: float = 30.0) -> None:
    """Wait until `replica` has replayed everything `primary` has written so far."""
    import time

    # The insert position: with synchronous_commit=off the last commit may not be written yet.
    lsn = primary.psql("SELECT pg_current_wal_insert_lsn()")
    deadline = time.monotonic() + timeout_s
    while replica.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") != "t":
        if time.monotonic() > deadline:
            raise AssertionError(f"the standby did not replay up to {lsn} in {timeout_s} s")
        time.sleep(0.05)
