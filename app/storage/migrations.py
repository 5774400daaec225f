"""Every schema change, in order. Applied by `touchpoint migrate`, never at import time.

Tables and columns use plain names so the file reads well in the sqlite3 shell or Datasette.
Times are UTC text (`2026-11-23T13:48:04.123Z`, which sorts in time order); money is integer
minor units (`cost_minor`) beside an ISO 4217 `currency`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from app.core.db import is_postgres

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
        -- Every index on events is paid for by every click (bench/redirect): keep them few.
        CREATE INDEX events_link_at ON events(link_id, at);
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


@migrations()
def m004_locations_offers_codes(db: Database) -> None:
    _run(
        db,
        """
        -- Stores and trade-show booths; `code` is what staff, links and reports use.
        CREATE TABLE locations (
            code TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            timezone TEXT NOT NULL,
            address TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        -- Keys for tills and booth phones: one location each, stored as a SHA-256 hash.
        CREATE TABLE staff_keys (
            id INTEGER PRIMARY KEY,
            location_code TEXT NOT NULL REFERENCES locations(code),
            label TEXT NOT NULL,
            prefix TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );

        CREATE TABLE offers (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
            title TEXT NOT NULL,
            terms TEXT,
            discount TEXT,
            kind TEXT NOT NULL,
            code_prefix TEXT,
            starts_at TEXT,
            ends_at TEXT,
            max_redemptions_per_code INTEGER,
            per_lead_limit INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- No rows for an offer means it is valid at every location.
        CREATE TABLE offer_locations (
            offer_id INTEGER NOT NULL REFERENCES offers(id),
            location_code TEXT NOT NULL REFERENCES locations(code),
            PRIMARY KEY (offer_id, location_code)
        );

        CREATE TABLE code_batches (
            id INTEGER PRIMARY KEY,
            offer_id INTEGER NOT NULL REFERENCES offers(id),
            count INTEGER NOT NULL,
            recipients_link_id INTEGER REFERENCES links(id),
            created_at TEXT NOT NULL
        );
        -- code: the normalised code (unique codes: 11 random Crockford base32 characters and
        -- a check character; shared codes: the public word in capitals).
        CREATE TABLE codes (
            code TEXT PRIMARY KEY,
            offer_id INTEGER NOT NULL REFERENCES offers(id),
            kind TEXT NOT NULL,
            batch_id INTEGER REFERENCES code_batches(id),
            lead_id TEXT REFERENCES leads(id),
            recipient_id INTEGER REFERENCES recipients(id),
            redemption_count INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE INDEX codes_offer ON codes(offer_id, batch_id);
        CREATE INDEX codes_lead ON codes(lead_id) WHERE lead_id IS NOT NULL;

        -- A web coupon claimed from an offer landing page; one per visitor and offer.
        CREATE TABLE claims (
            id INTEGER PRIMARY KEY,
            offer_id INTEGER NOT NULL REFERENCES offers(id),
            code TEXT NOT NULL UNIQUE REFERENCES codes(code),
            visitor_id TEXT NOT NULL,
            lead_id TEXT REFERENCES leads(id),
            link_id INTEGER REFERENCES links(id),
            campaign_id INTEGER REFERENCES campaigns(id),
            click_id TEXT,
            event_id TEXT,
            claimed_at TEXT NOT NULL,
            UNIQUE (offer_id, visitor_id)
        );

        CREATE TABLE redemptions (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL REFERENCES codes(code),
            offer_id INTEGER NOT NULL REFERENCES offers(id),
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
            location_code TEXT NOT NULL REFERENCES locations(code),
            transaction_id TEXT NOT NULL,
            amount_minor INTEGER,
            currency TEXT,
            staff_key_id INTEGER REFERENCES staff_keys(id),
            claim_id INTEGER REFERENCES claims(id),
            lead_id TEXT REFERENCES leads(id),
            visitor_id TEXT,
            redeemed_at TEXT NOT NULL,
            voided_at TEXT,
            void_reason TEXT
        );
        CREATE INDEX redemptions_code ON redemptions(code);
        CREATE INDEX redemptions_at ON redemptions(redeemed_at);
        CREATE INDEX redemptions_location ON redemptions(location_code, redeemed_at);

        -- Answers already given, so a retried POST (same key) gets the same answer.
        CREATE TABLE idempotency_keys (
            location_code TEXT NOT NULL,
            key TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            status INTEGER NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (location_code, key)
        );

        -- Booth scans: scan_id is made by the device, so offline replays are harmless.
        CREATE TABLE booth_scans (
            id TEXT PRIMARY KEY,
            location_code TEXT NOT NULL REFERENCES locations(code),
            raw_code TEXT NOT NULL,
            lead_id TEXT REFERENCES leads(id),
            scanned_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            rating INTEGER,
            note TEXT,
            staff_key_id INTEGER REFERENCES staff_keys(id),
            event_id TEXT
        );
        CREATE INDEX booth_scans_unmatched ON booth_scans(location_code) WHERE lead_id IS NULL;

        -- Failed code lookups per staff key and per address, in one-minute windows.
        CREATE TABLE rate_limits (
            bucket TEXT NOT NULL,
            window INTEGER NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (bucket, window)
        ) WITHOUT ROWID;
        CREATE TABLE security_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT
        );
        """,
    )


@migrations(transactional=False)
def m005_links_may_point_at_an_offer(db: Database) -> None:
    # A link now leads to a destination or to an offer's landing page, so destination may be
    # NULL. SQLite cannot relax NOT NULL in place: the table is rebuilt, following SQLite's
    # own recipe (foreign keys off around one transaction, then checked).
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        with db.atomic():
            db.table("links").add_column("offer_id", int)
            db.table("links").transform(
                not_null={"destination": False},
                add_foreign_keys=[("offer_id", "offers", "id")],
            )
            problems = db.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"foreign key check failed after rebuilding links: {problems}")
    finally:
        db.execute("PRAGMA foreign_keys = ON")


@migrations()
def m006_report_rollups(db: Database) -> None:
    # Derived from events for the reports (see app/storage/reports.py); refreshed lazily by
    # rowid before each report, so nothing here fires when the redirect path INSERTs a click.
    # Only UPDATE and DELETE of rows already summed queue their old values for a recount.
    _run(
        db,
        """
        CREATE TABLE report_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_event_rowid INTEGER NOT NULL,
            last_event_id TEXT
        );
        INSERT INTO report_state (id, last_event_rowid) VALUES (1, 0);

        -- Visitor GUIDs numbered, so a day's visitors pack into a blob of 32-bit integers.
        CREATE TABLE report_visitors (
            n INTEGER PRIMARY KEY,
            visitor_id TEXT NOT NULL UNIQUE
        );

        -- 0 and '' stand for "no campaign / link / store": NULLs never match in a key.
        CREATE TABLE report_days (
            day TEXT NOT NULL,
            campaign_id INTEGER NOT NULL,
            link_id INTEGER NOT NULL,
            store_code TEXT NOT NULL,
            human_clicks INTEGER NOT NULL,
            scans INTEGER NOT NULL,
            bot_hits INTEGER NOT NULL,
            claims INTEGER NOT NULL,
            booth_scans INTEGER NOT NULL,
            visitors BLOB NOT NULL,
            PRIMARY KEY (day, campaign_id, link_id, store_code)
        ) WITHOUT ROWID;
        -- The same by month (YYYY-MM), so a report over months reads a few rows a link.
        CREATE TABLE report_months (
            month TEXT NOT NULL,
            campaign_id INTEGER NOT NULL,
            link_id INTEGER NOT NULL,
            store_code TEXT NOT NULL,
            human_clicks INTEGER NOT NULL,
            scans INTEGER NOT NULL,
            bot_hits INTEGER NOT NULL,
            claims INTEGER NOT NULL,
            booth_scans INTEGER NOT NULL,
            visitors BLOB NOT NULL,
            PRIMARY KEY (month, campaign_id, link_id, store_code)
        ) WITHOUT ROWID;

        -- Human touches (click, scan, claim, booth scan = kind 1-4), clustered by visitor so a
        -- journey is one range read; visitor_n 0 is a touch without a visitor.
        CREATE TABLE report_touches (
            visitor_n INTEGER NOT NULL,
            at_ms INTEGER NOT NULL,
            event_rowid INTEGER NOT NULL,
            lead_id TEXT,
            kind INTEGER NOT NULL,
            campaign_id INTEGER,
            link_id INTEGER,
            store_code TEXT,
            PRIMARY KEY (visitor_n, at_ms, event_rowid)
        ) WITHOUT ROWID;
        CREATE INDEX report_touches_lead ON report_touches(lead_id, at_ms)
            WHERE lead_id IS NOT NULL;

        CREATE TABLE report_changes (
            id INTEGER PRIMARY KEY,
            event_rowid INTEGER NOT NULL,
            at TEXT,
            visitor_id TEXT,
            campaign_id INTEGER,
            link_id INTEGER,
            store_code TEXT
        );
        CREATE TRIGGER events_report_update
        AFTER UPDATE OF type, at, link_id, campaign_id, store_code, visitor_id, is_bot, lead_id
        ON events
        WHEN OLD.rowid <= (SELECT last_event_rowid FROM report_state)
        BEGIN
            INSERT INTO report_changes (event_rowid, at, visitor_id, campaign_id, link_id,
                                        store_code)
            VALUES (OLD.rowid, OLD.at, OLD.visitor_id, OLD.campaign_id, OLD.link_id,
                    OLD.store_code);
        END;
        CREATE TRIGGER events_report_delete
        AFTER DELETE ON events
        WHEN OLD.rowid <= (SELECT last_event_rowid FROM report_state)
        BEGIN
            INSERT INTO report_changes (event_rowid, at, visitor_id, campaign_id, link_id,
                                        store_code)
            VALUES (OLD.rowid, OLD.at, OLD.visitor_id, OLD.campaign_id, OLD.link_id,
                    OLD.store_code);
        END;
        """,
    )


@migrations()
def m007_user_accounts(db: Database) -> None:
    # Dashboard accounts. session_epoch is part of every signed session cookie: raising it
    # (sign out everywhere, password change, disable) ends all of that user's sessions.
    _run(
        db,
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL CHECK (role IN ('admin', 'marketer')),
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            password_changed_at TEXT NOT NULL,
            last_sign_in_at TEXT,
            disabled_at TEXT,
            session_epoch INTEGER NOT NULL DEFAULT 0
        );
        -- Tokens made in the dashboard belong to their user and stop working with the account.
        ALTER TABLE api_tokens ADD COLUMN user_id INTEGER REFERENCES users (id);
        CREATE INDEX api_tokens_by_user ON api_tokens (user_id) WHERE user_id IS NOT NULL;
        """,
    )


@migrations()
def m008_redemptions_by_offer(db: Database) -> None:
    # The dashboard counts each offer's redemptions (not voided) on every campaign and offer
    # page; without this it scans the whole table, so the pages slow down as redemptions grow.
    _run(
        db,
        """
        CREATE INDEX redemptions_offer ON redemptions (offer_id, voided_at);
        """,
    )


@migrations()
def m009_report_leads(db: Database) -> None:
    # Reports looked up each conversion's browsers through lead_visitors and report_visitors,
    # two B-trees keyed by GUID text, once per conversion: that cost grew faster than the data.
    # report_leads holds the same links by visitor number, derived from lead_visitors (which
    # is only ever appended to) lazily by rowid like the other report tables; the next refresh
    # fills it, so existing databases need no backfill here. The lead index of report_touches
    # becomes covering, so a lead's touches are read without a lookup in the table per touch.
    _run(
        db,
        """
        CREATE TABLE report_leads (
            visitor_n INTEGER PRIMARY KEY,
            lead_id TEXT NOT NULL
        );
        CREATE INDEX report_leads_lead ON report_leads(lead_id);
        ALTER TABLE report_state ADD COLUMN last_lead_rowid INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE report_state ADD COLUMN last_lead_visitor_id TEXT;

        DROP INDEX report_touches_lead;
        CREATE INDEX report_touches_lead
            ON report_touches(lead_id, at_ms, kind, campaign_id, link_id, store_code)
            WHERE lead_id IS NOT NULL;
        """,
    )


@migrations()
def m010_location_currency(db: Database) -> None:
    # A till in Berlin takes euros on a USD install: a redemption without a currency takes
    # its location's. NULL means the install's TOUCHPOINT_DEFAULT_CURRENCY, so existing
    # locations keep what they had.
    _run(db, "ALTER TABLE locations ADD COLUMN currency TEXT;")


@migrations()
def m011_orphan_counts_and_maintenance(db: Database) -> None:
    # Orphan hits past a few per address and hour are only counted (app/storage/hits.py), so a
    # flood of unknown tokens adds one row, not one per request. maintenance holds small
    # shared state: the day the last prune ran (one process prunes a day) and the health
    # probe's write. The partial index lets the daily prune find old bot hits without a
    # scan; human clicks never enter it.
    _run(
        db,
        """
        CREATE TABLE orphan_counts (
            hour TEXT NOT NULL,
            ip TEXT NOT NULL,
            hits INTEGER NOT NULL,
            PRIMARY KEY (hour, ip)
        ) WITHOUT ROWID;
        CREATE TABLE maintenance (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE INDEX events_bot_at ON events(at) WHERE is_bot = 1;
        """,
    )


@migrations()
def m012_jobs(db: Database) -> None:
    # Work too long for a request (a 900,000-row recipients upload), run by `touchpoint
    # worker`. lease_until expires when a worker dies without a word (kill -9), so another
    # claims the job; claim_token fences a worker whose lease was taken over.
    # state is the handler's resume point, written in the same transaction as its rows.
    _run(
        db,
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued',
            params TEXT NOT NULL,
            state TEXT,
            progress REAL NOT NULL DEFAULT 0,
            rows_done INTEGER NOT NULL DEFAULT 0,
            rows_total INTEGER,
            errors TEXT,
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            claim_token TEXT,
            lease_until REAL,
            created_by TEXT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT
        );
        CREATE INDEX jobs_runnable ON jobs(status, id) WHERE status IN ('queued', 'running');
        """,
    )


@migrations()
def m013_sign_in_delays(db: Database) -> None:
    # Progressive sign-in delays (access/throttle.py Backoff): attempts per key (an account and a
    # client address, an account on a known device, wrong staff keys from an address) and
    # when the last one was made, so the next one knows how long it must wait.
    _run(
        db,
        """
        CREATE TABLE sign_in_delays (
            key TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_attempt REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX sign_in_delays_last ON sign_in_delays(last_attempt);
        """,
    )


@migrations()
def m014_lead_pipeline(db: Database) -> None:
    # The handoff to Sales (issue 14). A lead now has an owner, a source, an origin and an
    # expected value set by people, and a stage, status and follow-up state derived from its
    # conversions, losses and activities. The derived columns are kept by
    # app/people/pipeline.py in the same transaction as the change that moves them, so the
    # leads list can filter and page on them; they can always be recomputed
    # (pipeline.ensure_current), and are whenever the stage settings change.
    # created_at is when Touchpoint first knew the person; existing leads take first_seen.
    _run(
        db,
        """
        ALTER TABLE leads ADD COLUMN created_at TEXT;
        UPDATE leads SET created_at = first_seen;
        ALTER TABLE leads ADD COLUMN owner TEXT;
        ALTER TABLE leads ADD COLUMN source TEXT;
        ALTER TABLE leads ADD COLUMN origin TEXT NOT NULL DEFAULT 'marketing';
        ALTER TABLE leads ADD COLUMN value_minor INTEGER;
        ALTER TABLE leads ADD COLUMN currency TEXT;
        ALTER TABLE leads ADD COLUMN stage TEXT;
        ALTER TABLE leads ADD COLUMN stage_at TEXT;
        ALTER TABLE leads ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
        ALTER TABLE leads ADD COLUMN won_at TEXT;
        ALTER TABLE leads ADD COLUMN handoff_at TEXT;
        ALTER TABLE leads ADD COLUMN first_contacted_at TEXT;
        ALTER TABLE leads ADD COLUMN last_contacted_at TEXT;
        ALTER TABLE leads ADD COLUMN last_activity_at TEXT;
        ALTER TABLE leads ADD COLUMN lost_reason TEXT;
        ALTER TABLE leads ADD COLUMN lost_note TEXT;
        ALTER TABLE leads ADD COLUMN lost_at TEXT;
        ALTER TABLE leads ADD COLUMN lost_stage TEXT;
        -- Set when a browser with conversions of its own is stitched to the lead (a click in
        -- the hot path cannot restage it); the next pipeline read restages it.
        ALTER TABLE leads ADD COLUMN restage_due INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX leads_restage_due ON leads(id) WHERE restage_due = 1;
        CREATE INDEX leads_created ON leads(created_at, id);
        CREATE INDEX leads_stage ON leads(stage, status);
        CREATE INDEX leads_owner ON leads(owner) WHERE owner IS NOT NULL;
        CREATE INDEX leads_waiting ON leads(handoff_at) WHERE status = 'open';

        -- Every time a lead was marked lost; reopened_at is set when it was reopened, and the
        -- loss stays in its stage history.
        CREATE TABLE lead_losses (
            id INTEGER PRIMARY KEY,
            lead_id TEXT NOT NULL REFERENCES leads(id),
            at TEXT NOT NULL,
            reason TEXT NOT NULL,
            note TEXT,
            stage TEXT,
            by TEXT,
            reopened_at TEXT,
            reopened_by TEXT
        );
        CREATE INDEX lead_losses_lead ON lead_losses(lead_id, at);

        -- What Sales did: calls, meetings, demos, emails, chats and notes. One that names a
        -- campaign is a touch of it for attribution.
        CREATE TABLE lead_activities (
            id INTEGER PRIMARY KEY,
            lead_id TEXT NOT NULL REFERENCES leads(id),
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            by TEXT,
            note TEXT,
            campaign_id INTEGER REFERENCES campaigns(id),
            created_at TEXT NOT NULL,
            created_by TEXT
        );
        CREATE INDEX lead_activities_lead ON lead_activities(lead_id, at);
        CREATE INDEX lead_activities_at ON lead_activities(at);

        -- A voided conversion (a cancelled order, a refund, a test) stays in the log and counts
        -- nowhere. conversion_changes is the audit trail of corrected values.
        ALTER TABLE conversions ADD COLUMN voided_at TEXT;
        ALTER TABLE conversions ADD COLUMN void_reason TEXT;
        ALTER TABLE conversions ADD COLUMN voided_by TEXT;
        CREATE TABLE conversion_changes (
            id INTEGER PRIMARY KEY,
            conversion_id INTEGER NOT NULL REFERENCES conversions(id),
            at TEXT NOT NULL,
            by TEXT,
            changes TEXT NOT NULL
        );
        CREATE INDEX conversion_changes_conversion ON conversion_changes(conversion_id);
        CREATE INDEX conversions_type ON conversions(type, occurred_at);
        """,
    )


# Offline channels (issue 16): reference codes, phones and calls, partners, till sales and
# pickups. One SQL text for both backends; the PostgreSQL twin below is made from it.
M015_SQL = """
-- Named counters: 'lead_ref' numbers reference codes, 'lead_ref_key' is the random key of
-- their permutation (app/people/ref_codes.py), fixed once the first code is made.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- A lead's reference code is the counter value ref_number through the permutation. The index
-- is on the number, which grows with each lead: an import appends to the end of the index,
-- where an index on the codes themselves (scattered by design) would rewrite a random page
-- per row. A typed code is turned back into its number to be found.
ALTER TABLE leads ADD COLUMN ref_number INTEGER;
ALTER TABLE leads ADD COLUMN ref_code TEXT;
ALTER TABLE leads ADD COLUMN phone TEXT;
ALTER TABLE leads ADD COLUMN partner_code TEXT;
CREATE UNIQUE INDEX leads_ref_number ON leads(ref_number);
CREATE INDEX leads_phone ON leads(phone) WHERE phone IS NOT NULL;

-- Resellers, VARs, agencies, affiliates and referrers. commission_bp: hundredths of a percent.
CREATE TABLE partners (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    commission_bp INTEGER,
    contact_email TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
ALTER TABLE links ADD COLUMN partner_code TEXT REFERENCES partners(code);

-- A campaign's tracking numbers (E.164); a number belongs to one campaign at a time.
CREATE TABLE phone_numbers (
    number TEXT PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    label TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX phone_numbers_campaign ON phone_numbers(campaign_id);

-- Calls as a telephony webhook reports them; activity_id is the lead activity it became.
CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    to_number TEXT NOT NULL,
    from_number TEXT,
    started_at TEXT NOT NULL,
    duration_s INTEGER,
    answered INTEGER NOT NULL,
    recording_url TEXT,
    campaign_id INTEGER REFERENCES campaigns(id),
    lead_id TEXT REFERENCES leads(id),
    activity_id INTEGER REFERENCES lead_activities(id),
    created_lead INTEGER NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX calls_started ON calls(started_at);

-- Touches no click logged: a partner bringing a lead or a sale, a customer at the till
-- saying which campaign they saw. A till sale without a lead carries its conversion instead.
CREATE TABLE offline_touches (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    lead_id TEXT REFERENCES leads(id),
    conversion_id INTEGER REFERENCES conversions(id),
    campaign_id INTEGER REFERENCES campaigns(id),
    partner_code TEXT REFERENCES partners(code),
    location_code TEXT REFERENCES locations(code),
    staff_key_id INTEGER REFERENCES staff_keys(id),
    created_at TEXT NOT NULL,
    created_by TEXT
);
CREATE INDEX offline_touches_at ON offline_touches(at);
CREATE INDEX offline_touches_lead ON offline_touches(lead_id) WHERE lead_id IS NOT NULL;

-- Where a sale was made or an order picked up, by whom, and who brought it.
ALTER TABLE conversions ADD COLUMN location_code TEXT REFERENCES locations(code);
ALTER TABLE conversions ADD COLUMN partner_code TEXT REFERENCES partners(code);
ALTER TABLE conversions ADD COLUMN staff_key_id INTEGER REFERENCES staff_keys(id);
ALTER TABLE conversions ADD COLUMN picked_up_at TEXT;
ALTER TABLE conversions ADD COLUMN picked_up_location TEXT REFERENCES locations(code);
ALTER TABLE conversions ADD COLUMN picked_up_staff_key_id INTEGER REFERENCES staff_keys(id);
"""


@migrations()
def m015_offline_channels(db: Database) -> None:
    _run(db, M015_SQL)
    _fill_ref_codes(db)


M016_SQL = """
-- Branded short domains. host: lower case, IDNA ('xn--'), with a port only when the links
-- are served on one (a test server); default_redirect: where the root and unknown paths go.
CREATE TABLE domains (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL UNIQUE,
    default_redirect TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- A link's custom back-half: slug as typed; slug_key is '<domain>/<slug in lower case>',
-- with an empty domain for the default one (PUBLIC_BASE_URL's host, links.domain NULL), so
-- that one plain unique index makes slugs unique per domain and case-insensitive, and the
-- click path finds a slug in one lookup (app/storage/core.py).
ALTER TABLE links ADD COLUMN domain TEXT REFERENCES domains(host);
ALTER TABLE links ADD COLUMN slug TEXT;
ALTER TABLE links ADD COLUMN slug_key TEXT;
CREATE UNIQUE INDEX links_slug ON links(slug_key);

-- Archived links and campaigns are hidden from lists and still redirect.
ALTER TABLE links ADD COLUMN archived_at TEXT;
ALTER TABLE campaigns ADD COLUMN archived_at TEXT;

-- A campaign's defaults for its new links' utm_content and utm_term, e.g. '{store_code}'.
ALTER TABLE campaigns ADD COLUMN utm_content_template TEXT;
ALTER TABLE campaigns ADD COLUMN utm_term_template TEXT;

-- Tags (lower case) on links and campaigns; a list is filtered by one.
CREATE TABLE link_tags (
    link_id INTEGER NOT NULL REFERENCES links(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (link_id, tag)
);
CREATE INDEX link_tags_tag ON link_tags(tag);
CREATE TABLE campaign_tags (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (campaign_id, tag)
);
CREATE INDEX campaign_tags_tag ON campaign_tags(tag);
"""


@migrations()
def m016_link_management(db: Database) -> None:
    _run(db, M016_SQL)


M017_SQL = """
-- The country (ISO 3166 alpha-2) of a click or scan, from its full address before that is
-- anonymised (app/clicks/audience.py); NULL for older events and unknown addresses.
ALTER TABLE events ADD COLUMN country TEXT;
"""


@migrations()
def m017_event_country(db: Database) -> None:
    _run(db, M017_SQL)


M018_SQL = """
-- A link's QR centre logo (the dashboard's QR designer): PNG or SVG bytes, checked on upload.
CREATE TABLE qr_logos (
    link_id BIGINT PRIMARY KEY REFERENCES links(id),  -- not INTEGER: no rowid alias
    media_type TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"""


@migrations()
def m018_qr_logos(db: Database) -> None:
    _run(db, M018_SQL)


def _fill_ref_codes(db: Database) -> None:
    # Leads made before reference codes existed get theirs now, oldest first.
    from app.storage.people import fill_ref_codes

    fill_ref_codes(db)


def _postgres_twin(sql: str) -> str:
    """The same DDL in PostgreSQL's words: identity keys, 64-bit integers."""
    sql = sql.replace("INTEGER PRIMARY KEY", "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    return sql.replace("INTEGER", "bigint")


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


# PostgreSQL ---------------------------------------------------------------------------------
#
# A PostgreSQL database starts from postgres_baseline.sql, which is m001..m014 in one script
# (tests/test_pg_schema.py proves it builds the same schema). Every later migration is a
# SQLite function above AND an entry here under the same name, in the same order.

BASELINE = Path(__file__).with_name("postgres_baseline.sql")
BASELINE_LAST = "m014_lead_pipeline"
_names = [m.name for m in migrations._migrations]
BASELINE_INCLUDES = tuple(_names[: _names.index(BASELINE_LAST) + 1])
POSTGRES_MIGRATIONS: tuple[tuple[str, str], ...] = (  # (name, SQL) after the baseline
    ("m015_offline_channels", _postgres_twin(M015_SQL)),
    ("m016_link_management", _postgres_twin(M016_SQL)),
    ("m017_event_country", _postgres_twin(M017_SQL)),
    ("m018_qr_logos", _postgres_twin(M018_SQL).replace("BLOB", "bytea")),
)
# Data steps run after a PostgreSQL migration's SQL, in its transaction.
_PG_FOLLOW_UPS = {"m015_offline_channels": _fill_ref_codes}
# The byte order SQLite compares text in (BINARY). Times are ISO text compared with < and >,
# codes and ids sort in reports: a language collation would order some of them differently.
POSTGRES_COLLATIONS = ("C", "POSIX", "C.UTF-8", "C.utf8")
_MIGRATE_LOCK = 0x5450_4D49_4752_4154  # "TPMIGRAT": one host migrates at a time


def _pg_names() -> list[str]:
    return [*BASELINE_INCLUDES, *(name for name, _ in POSTGRES_MIGRATIONS)]


def _pg_applied(db: Database) -> list[str]:
    found = db.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not found:
        return []
    return [r[0] for r in db.execute("SELECT name FROM schema_migrations ORDER BY id")]


def _pg_apply(db: Database) -> list[str]:
    collation = db.execute(
        "SELECT datcollate FROM pg_database WHERE datname = current_database()"
    ).fetchone()[0]
    if collation not in POSTGRES_COLLATIONS:
        raise SystemExit(
            f"This PostgreSQL database compares text by the {collation!r} collation; Touchpoint "
            "needs byte order (C), as SQLite compares. Create it with: CREATE DATABASE "
            "touchpoint TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C';"
        )
    done: list[str] = []
    db.execute("BEGIN")
    try:
        # Two hosts starting at once: the second waits, then finds nothing left to do.
        db.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATE_LOCK,))
        have = set(_pg_applied(db))
        if not have:
            db.execute(BASELINE.read_text())
            db.execute(
                "CREATE TABLE schema_migrations (id bigint GENERATED ALWAYS AS IDENTITY "
                "PRIMARY KEY, name text NOT NULL UNIQUE, applied_at timestamptz NOT NULL "
                "DEFAULT now())"
            )
            for name in BASELINE_INCLUDES:
                db.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
            done.append("postgres_baseline")
            have = set(BASELINE_INCLUDES)
        for name, sql in POSTGRES_MIGRATIONS:
            if name not in have:
                db.execute(sql)
                if name in _PG_FOLLOW_UPS:
                    _PG_FOLLOW_UPS[name](db)
                db.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
                done.append(name)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return done


def apply(db: Database) -> list[str]:
    """Apply pending migrations; return the names applied."""
    if is_postgres(db):
        return _pg_apply(db)
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending


def pending(db: Database) -> list[str]:
    if is_postgres(db):
        have = set(_pg_applied(db))
        return [name for name in _pg_names() if name not in have]
    return [m.name for m in migrations.pending(db)]


def applied(db: Database) -> list[str]:
    """The names applied so far; empty for a database Touchpoint never set up."""
    if is_postgres(db):
        return _pg_applied(db)
    return [m.name for m in migrations.applied(db)]
