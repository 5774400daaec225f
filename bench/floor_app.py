"""The reference floor for bench/redirect: the least a logged redirect can do in Flask.

One route, `/r/<token>`: INSERT one row into SQLite (WAL, synchronous=NORMAL, busy_timeout,
autocommit, one connection per process), then answer 302 with a Location header and a
Set-Cookie. No token check, no link lookup, no bot rules: whatever Touchpoint spends beyond
this is the price of its own features.

    FLOOR_DATABASE=/tmp/floor.db gunicorn --pythonpath bench floor_app:app

The table is created if missing. Several workers start at once, so that first-time setup
(switching to WAL and CREATE TABLE IF NOT EXISTS) runs under an exclusive file lock.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, request

DESTINATION = "https://shop.example.com/p?x=1"
COOKIE = "floor_vid"
ONE_YEAR = 365 * 24 * 3600
BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL,
    at TEXT NOT NULL,
    visitor_id TEXT NOT NULL,
    user_agent TEXT
)
"""
_INSERT = "INSERT INTO hits (token, at, visitor_id, user_agent) VALUES (?, ?, ?, ?)"

_lock = threading.Lock()  # one connection per process; gthread workers share it
_conn: sqlite3.Connection | None = None
_conn_pid = 0


def database_path() -> str:
    path = os.environ.get("FLOOR_DATABASE", "")
    if not path:
        raise SystemExit("FLOOR_DATABASE must name the SQLite file of the floor app")
    return path


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    with open(path + ".init-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(_SCHEMA)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def connection() -> sqlite3.Connection:
    """This process's connection, (re)opened after a fork so no two processes share one."""
    global _conn, _conn_pid
    if _conn is None or _conn_pid != os.getpid():
        _conn = _open(database_path())
        _conn_pid = os.getpid()
    return _conn


app = Flask(__name__)


@app.get("/r/<path:token>")
def click(token: str) -> Response:
    visitor = uuid.uuid4().hex
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    row = (token, now, visitor, request.headers.get("User-Agent"))
    with _lock:
        connection().execute(_INSERT, row)
    response = Response(status=302, headers={"Location": DESTINATION})
    response.set_cookie(COOKIE, visitor, max_age=ONE_YEAR, httponly=True, samesite="Lax")
    return response


with _lock:
    connection()  # create the table now: a bad FLOOR_DATABASE fails at boot, not per request
