"""Every schema change, in order. Applied by `touchpoint migrate`, never at import time.

Tables and columns use plain names so the file reads well in the sqlite3 shell or Datasette.
Times are UTC text (`2026-11-23T13:48:04.123Z`, which sorts in time order); money is integer
minor units (`cost_minor`) beside an ISO 4217 `currency`.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("touchpoint")


@migrations(transactional=False)
def m001_wal(db: Database) -> None:
    # WAL lets the redirect workers write while reports read; it cannot change inside a
    # transaction, hence a non-transactional step.
    db.enable_wal()


@migrations()
def m002_core(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            channel TEXT NOT NULL,
            utm_source TEXT NOT NULL,
            utm_medium TEXT NOT NULL,
            utm_campaign TEXT NOT NULL,
            cost_minor INTEGER,
            currency TEXT,
            starts_at TEXT,
            ends_at TEXT,
            notes TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE links (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
            destination TEXT NOT NULL,
            label TEXT,
            store_code TEXT,
            utm_content TEXT,
            utm_term TEXT,
            expires_at TEXT,
            fallback_url TEXT,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX links_campaign ON links(campaign_id);

        -- One row per /r (click) or /q (scan) request; id is the click id handed to the site.
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            at TEXT NOT NULL,
            link_id INTEGER REFERENCES links(id),
            campaign_id INTEGER REFERENCES campaigns(id),
            store_code TEXT,
            visitor_id TEXT,
            ip TEXT,
            user_agent TEXT,
            referrer TEXT,
            is_bot INTEGER NOT NULL DEFAULT 0,
            bot_reason TEXT,
            outcome TEXT NOT NULL
        );
        CREATE INDEX events_link_at ON events(link_id, at);
        CREATE INDEX events_campaign_at ON events(campaign_id, at);
        CREATE INDEX events_visitor ON events(visitor_id) WHERE visitor_id IS NOT NULL;

        -- Requests for tokens that do not verify: kept so guessing and abuse are visible.
        CREATE TABLE orphan_hits (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            path TEXT NOT NULL,
            ip TEXT,
            user_agent TEXT,
            referrer TEXT
        );
        CREATE INDEX orphan_hits_at ON orphan_hits(at);

        -- API tokens: only a SHA-256 of the secret is kept; `prefix` identifies it in lists.
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            prefix TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL DEFAULT 'admin',
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        """,
    )


@migrations()
def m003_leads_recipients_conversions(db: Database) -> None:
    _run(
        db,
        """
        -- A person, across links and campaigns. id is the lead GUID shown everywhere.
        CREATE TABLE leads (
            id TEXT PRIMARY KEY,
            email TEXT,
            email_key TEXT UNIQUE,
            name TEXT,
            external_id TEXT,
            attributes TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            erased_at TEXT
        );
        CREATE INDEX leads_external_id ON leads(external_id) WHERE external_id IS NOT NULL;

        -- One row per (link, lead): its id travels in the per-recipient token.
        CREATE TABLE recipients (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id),
            lead_id TEXT NOT NULL REFERENCES leads(id),
            created_at TEXT NOT NULL,
            UNIQUE (link_id, lead_id)
        );

        -- Which browser (tp_vid GUID) belongs to which lead, and how we learnt it.
        CREATE TABLE lead_visitors (
            visitor_id TEXT PRIMARY KEY,
            lead_id TEXT NOT NULL REFERENCES leads(id),
            linked_at TEXT NOT NULL,
            source TEXT NOT NULL
        );
        CREATE INDEX lead_visitors_lead ON lead_visitors(lead_id);

        ALTER TABLE events ADD COLUMN recipient_id INTEGER REFERENCES recipients(id);
        ALTER TABLE events ADD COLUMN lead_id TEXT REFERENCES leads(id);
        CREATE INDEX events_lead_at ON events(lead_id, at) WHERE lead_id IS NOT NULL;

        -- Funnel stages reported by a site or CRM (lead, mql, sql, opportunity, sale, ...).
        CREATE TABLE conversions (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            lead_id TEXT REFERENCES leads(id),
            visitor_id TEXT,
            click_id TEXT REFERENCES events(id),
            campaign_id INTEGER REFERENCES campaigns(id),
            value_minor INTEGER,
            currency TEXT,
            external_id TEXT UNIQUE,
            properties TEXT
        );
        CREATE INDEX conversions_occurred ON conversions(occurred_at);
        CREATE INDEX conversions_lead ON conversions(lead_id) WHERE lead_id IS NOT NULL;
        CREATE INDEX conversions_visitor ON conversions(visitor_id) WHERE visitor_id IS NOT NULL;
        """,
    )


def _run(db: Database, script: str) -> None:
    """Execute a script statement by statement.

    sqlite3's executescript() commits the open transaction first, which would break the
    all-or-nothing promise of a migration step.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement!r}")


def apply(db: Database) -> list[str]:
    """Apply pending migrations; return the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending


def pending(db: Database) -> list[str]:
    return [m.name for m in migrations.pending(db)]
