"""What every request needs, built once per process by the app factory (app/__init__.py).

It lives below the views and the domain so that they can take it without importing the
factory module, which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from app.core import db as dbmod

if TYPE_CHECKING:
    from app.clicks.link_tokens import BadgeTokens, LinkTokens


@dataclass(frozen=True)
class ScannerRules:
    """When a recipient's hits look like an email security scanner (see README)."""

    burst_seconds: float
    burst_links: int
    repeat_seconds: float


@dataclass
class Runtime:
    """What every request needs, built once per process from the settings."""

    config: dict[str, Any]
    database_path: str
    link_tokens: LinkTokens
    badge_tokens: BadgeTokens
    trusted_proxies: tuple
    scanner_rules: ScannerRules

    def db(self) -> Database:
        return dbmod.thread_database(
            self.database_path, self.config["SYNCHRONOUS"], self.config["BUSY_TIMEOUT_MS"]
        )

    def hot_db(self) -> Database:
        """The redirect path's connection: writes retry quickly instead of sleeping (db.py)."""
        return dbmod.thread_database(
            self.database_path,
            self.config["SYNCHRONOUS"],
            self.config["BUSY_TIMEOUT_MS"],
            hot=True,
        )
