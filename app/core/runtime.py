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


@dataclass(frozen=True)
class PipelineRules:
    """How leads move through the funnel and when Sales is late (the lead-pipeline settings).

    stages: TOUCHPOINT_FUNNEL_STAGES in order. A handoff or opportunity stage that is not
    one of them turns its rule off (no lead is ever uncontacted; no opportunity milestone).
    """

    stages: tuple[str, ...] = ("lead", "mql", "sql", "opportunity", "sale")
    won_stages: tuple[str, ...] = ("sale",)
    handoff_stage: str = "mql"
    opportunity_stage: str = "opportunity"
    pipeline_types: tuple[str, ...] = ("opportunity",)
    lost_reasons: tuple[str, ...] = (
        "competitor",
        "no_budget",
        "no_decision",
        "no_approval",
        "no_response",
        "bad_fit",
        "timing",
        "other",
    )
    follow_up_s: int = 48 * 3600
    stall_s: int = 30 * 86_400

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PipelineRules:
        from app.core.settings import names

        return cls(
            stages=names(config["FUNNEL_STAGES"]),
            won_stages=names(config["WON_STAGES"]),
            handoff_stage=str(config["HANDOFF_STAGE"]).strip().lower(),
            opportunity_stage=str(config["OPPORTUNITY_STAGE"]).strip().lower(),
            pipeline_types=names(config["PIPELINE_TYPES"]),
            lost_reasons=names(config["LOST_REASONS"]),
            follow_up_s=int(config["FOLLOW_UP_HOURS"]) * 3600,
            stall_s=int(config["STALL_DAYS"]) * 86_400,
        )

    def rank(self, stage: str | None) -> int:
        """A stage's place in the funnel (0 first), -1 for a type that is not a stage."""
        try:
            return self.stages.index(stage) if stage is not None else -1
        except ValueError:
            return -1

    def signature(self) -> str:
        """What the derived stage columns depend on: when it changes, leads are restaged."""
        return "|".join((",".join(self.stages), ",".join(self.won_stages), self.handoff_stage))


@dataclass
class Runtime:
    """What every request needs, built once per process from the settings."""

    config: dict[str, Any]
    database_path: str
    link_tokens: LinkTokens
    badge_tokens: BadgeTokens
    trusted_proxies: tuple
    scanner_rules: ScannerRules
    pipeline_rules: PipelineRules

    @property
    def database_label(self) -> str:
        """Where the data is, for messages: the SQLite path, or the PostgreSQL URL without
        its password."""
        if dbmod.postgres.is_url(self.database_path):
            return dbmod.postgres.describe(self.database_path)
        return self.database_path

    def db(self) -> Database:
        return dbmod.thread_database(
            self.database_path,
            self.config["SYNCHRONOUS"],
            self.config["BUSY_TIMEOUT_MS"],
            pool_size=self.config["DATABASE_POOL_SIZE"],
        )

    def reports_db(self) -> Database | None:
        """The standby the reports read (TOUCHPOINT_REPORTS_DATABASE_URL), or None: read db()."""
        url = self.config["REPORTS_DATABASE_URL"]
        if not url:
            return None
        return dbmod.thread_database(
            url,
            self.config["SYNCHRONOUS"],
            self.config["BUSY_TIMEOUT_MS"],
            pool_size=self.config["DATABASE_POOL_SIZE"],
        )

    def hot_db(self) -> Database:
        """The redirect path's connection: writes retry quickly instead of sleeping (db.py)."""
        return dbmod.thread_database(
            self.database_path,
            self.config["SYNCHRONOUS"],
            self.config["BUSY_TIMEOUT_MS"],
            hot=True,
            pool_size=self.config["DATABASE_POOL_SIZE"],
        )
