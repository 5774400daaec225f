"""Where hits wait while the database cannot take writes (a full disk, a lock held too long).

A printed link must redirect whatever the database says (issue 12), so a hit whose INSERT
fails is appended as one JSON line to a file of this process in the spool directory (another
path than the database, ideally another filesystem), flushed and fsync'd before the answer:
a click or scan by its field names (app/clicks/hit.py), an orphan hit as its arguments.
If the file cannot be written either, the hit waits in this process's memory (bounded); past
that it is lost and counted. `drain` writes everything back in one transaction per file and
deletes a file only after its rows committed; events carry their id (the primary key), so a
replay never doubles a click.

Files are locked with flock while written or drained: a drainer skips a file another process
is writing, and a writer that finds its file drained (deleted) under it opens a new one.
Within a process a lock around both keeps greenlets from waiting on each other's flock.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from app import storage
from app.clicks import scanners
from app.clicks.hit import Hit
from app.core import clock
from app.core.db import immediate
from app.core.runtime import ScannerRules

MEMORY_LIMIT = 10_000  # hits per process kept in memory when the spool file fails too
PREFIX = "hits-"

log = logging.getLogger(__name__)
_lock = threading.Lock()  # gevent patches it: greenlets wait cooperatively
_memory: list[dict] = []
_lost = 0


def directory(config: dict) -> str:
    """The spool directory of a configuration (create_app resolves the empty default)."""
    if config.get("SPOOL_DIR"):
        return str(config["SPOOL_DIR"])
    return str(Path(__file__).resolve().parent.parent / "instance" / "spool")


def keep_hit(spool_dir: str, hit: Hit, rules: ScannerRules) -> str:
    """Keep a click or scan the database refused, by field name; a recipient's hit keeps the
    scanner rules it is to be judged by too. Returns 'file', 'memory' or 'lost'."""
    entry: dict[str, Any] = {"op": "hit", "hit": hit.to_dict()}
    if hit.of_recipient:
        entry["rules"] = dataclasses.asdict(rules)
    return _keep(spool_dir, entry)


def keep_orphan(spool_dir: str, args: tuple) -> str:
    """Keep a hit on an unknown token: storage.record_orphan_hit's (at, path, ip, user_agent,
    referrer)."""
    return _keep(spool_dir, {"op": "orphan", "args": list(args)})


def _keep(spool_dir: str, entry: dict[str, Any]) -> str:
    global _lost
    line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    with _lock:
        try:
            _append(spool_dir, line)
            return "file"
        except OSError as exc:
            if len(_memory) < MEMORY_LIMIT:
                _memory.append(entry)
                log.warning("spool file failed (%s); hit kept in memory", exc)
                return "memory"
            _lost += 1
            log.error("hit lost: database, spool file and memory spool all full (%s)", exc)
            return "lost"


def _append(spool_dir: str, line: bytes) -> None:
    os.makedirs(spool_dir, exist_ok=True)
    path = os.path.join(spool_dir, f"{PREFIX}{os.getpid()}.jsonl")
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _is_at(fd, path):
                continue  # drained and deleted while we waited: open the new one
            size = os.fstat(fd).st_size
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(28, "short write to the spool file")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # never leave half a line behind
                raise
            return
        finally:
            os.close(fd)  # also releases the flock


def _is_at(fd: int, path: str) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _files(spool_dir: str) -> list[str]:
    try:
        names = os.listdir(spool_dir)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(spool_dir, n) for n in names if n.startswith(PREFIX))


def waiting(spool_dir: str) -> bool:
    """Whether any hit waits in this process's memory or in any spool file."""
    return bool(_memory) or bool(_files(spool_dir))


def drain(db: Database, spool_dir: str, detail_per_hour: int = 50) -> int:
    """Write every waiting hit to the database; return how many were new there.

    Raises the database's error when it still cannot take the writes; nothing is lost then.
    A file another process is writing at this moment is left for the next drain.
    """
    added = 0
    with _lock:
        if _memory:
            entries = list(_memory)
            added += _replay(db, entries, detail_per_hour)
            del _memory[: len(entries)]
        for path in _files(spool_dir):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                if not _is_at(fd, path):
                    continue
                entries = _parse(path, _read(fd))
                if entries:
                    added += _replay(db, entries, detail_per_hour)
                os.unlink(path)  # only now: its rows are committed
            finally:
                os.close(fd)
    return added


def _replay(db: Database, entries: list[dict], detail_per_hour: int) -> int:
    """Write spooled hits in one transaction; returns how many were new.

    Events carry their id (the primary key), so a spool replayed twice adds nothing twice.
    """
    added = 0
    with immediate(db):
        for entry in entries:
            if entry["op"] == "orphan":
                at, path, ip, user_agent, referrer = entry["args"]
                storage.add_orphan_hit(db, at, path, ip, user_agent, referrer, detail_per_hour)
                added += 1
                continue
            hit, rules = _spooled_hit(entry)
            if not storage.insert_hit_once(db, hit):
                continue  # replayed before: the event id is already there
            added += 1
            if rules is not None:
                scanners.apply(db, hit, rules)
    return added


def _spooled_hit(entry: dict) -> tuple[Hit, ScannerRules | None]:
    """The hit of a spool entry and, for a recipient's hit, the scanner rules to apply."""
    if entry["op"] == "hit":
        rules = entry.get("rules")
        return Hit(**entry["hit"]), None if rules is None else ScannerRules(**rules)
    # Written before the hit had names (op 'event' or 'recipient'): the events columns in
    # order, and for a recipient's hit the rules' windows as computed then.
    hit = Hit(*entry["args"])
    if entry["op"] == "event":
        return hit, None
    kw, at = entry["kw"], clock.from_iso(hit.at)
    rules = ScannerRules(
        burst_seconds=(at - clock.from_iso(kw["burst_since"])).total_seconds(),
        burst_links=kw["burst_links"],
        repeat_seconds=(at - clock.from_iso(kw["repeat_since"])).total_seconds(),
    )
    return hit, rules


def _read(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(path: str, data: bytes) -> list[dict]:
    global _lost
    entries = []
    for line in data.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            _lost += 1
            log.error("unreadable line in %s skipped (counted as lost)", path)
    return entries


def status(spool_dir: str) -> dict[str, int]:
    """The spool's size for monitoring: files, events and bytes waiting, this process's
    memory spool, and hits lost by this process since it started."""
    files = events = size = 0
    for path in _files(spool_dir):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        files += 1
        size += len(data)
        events += data.count(b"\n")
    return {
        "files": files,
        "events": events,
        "bytes": size,
        "in_memory": len(_memory),
        "lost": _lost,
    }
