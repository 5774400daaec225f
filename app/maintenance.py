"""Periodic upkeep that `touchpoint worker` runs between jobs.

Placeholder: another part of issue 12 (retention, the click spool) writes the real one; the
worker only relies on this signature.
"""

from __future__ import annotations

from sqlite_utils import Database


def tick(db: Database, config: dict, now: float) -> None:
    """Do whatever upkeep is due at `now` (Unix time); cheap when nothing is."""
