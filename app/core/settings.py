"""Every Touchpoint setting in one place: name, default, help.

Load order: these defaults, then `instance/config.py` (plain Python assignments of the same
names, without the TOUCHPOINT_ prefix), then `TOUCHPOINT_<NAME>` environment variables.
The README's settings table is checked against this tuple by a test.
"""

from __future__ import annotations

import os
import runpy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Where `make run` listens by default (the Makefile's HOST and PORT): the base of minted URLs
# when no request names one and PUBLIC_BASE_URL is empty (the CLI, the demo).
LOCAL_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    kind: type = str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE",
        "",
        "Path of the SQLite database file. Empty means instance/touchpoint.db.",
    ),
    Setting(
        "DATABASE_URL",
        "",
        "PostgreSQL instead of SQLite: postgresql://user:password@host:5432/touchpoint (a unix "
        "socket: postgresql://user@/touchpoint?host=/run/postgresql). Empty means SQLite at "
        "DATABASE. Several Touchpoint hosts can share one PostgreSQL (README: Running in "
        "production).",
    ),
    Setting(
        "REPORTS_DATABASE_URL",
        "",
        "A PostgreSQL standby (streaming replica) of DATABASE_URL that the reports and the "
        "dashboard's report pages read, to spare the primary: postgresql://user@replica/"
        "touchpoint. Their summing still runs on the primary. Empty: reports read DATABASE_URL.",
    ),
    Setting(
        "DATABASE_POOL_SIZE",
        10,
        "PostgreSQL only: how many connections each worker process holds at most (a gevent "
        "worker serves many requests at once; beyond this many they wait, up to "
        "BUSY_TIMEOUT_MS, for a free one). A host opens workers x this; 0 means no bound.",
        int,
    ),
    Setting(
        "SECRET_KEY",
        "",
        "Key that signs every link token, QR code and cookie. Empty means: read "
        "instance/secret_key, generating it on first start. Losing it breaks every printed link.",
    ),
    Setting(
        "OLD_SECRET_KEYS",
        "",
        "Comma-separated former secret keys still accepted when verifying link tokens "
        "(key rotation). New tokens are always signed with SECRET_KEY.",
    ),
    Setting(
        "PUBLIC_BASE_URL",
        "",
        "Scheme and host put in front of /r/ and /q/ in minted URLs, e.g. https://go.example.com. "
        "Empty means the scheme and host the API request came in on.",
    ),
    Setting(
        "CLICK_ID_PARAM",
        "tp_cid",
        "Query parameter that carries the click id to the destination site.",
    ),
    Setting(
        "VISITOR_COOKIE",
        "tp_vid",
        "Name of the first-party visitor cookie (a UUID4, one year).",
    ),
    Setting(
        "TRUSTED_PROXIES",
        "",
        "Comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto headers are believed. Empty means the socket address is the client.",
    ),
    Setting(
        "SYNCHRONOUS",
        "NORMAL",
        "SQLite synchronous mode. NORMAL (WAL) survives a crash of the server process; FULL also "
        "survives a power cut, at the price of an fsync per click.",
    ),
    Setting(
        "BUSY_TIMEOUT_MS",
        5000,
        "How long a writer waits for another process's lock before failing, in milliseconds.",
        int,
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        16 * 1024 * 1024,
        "Largest request body accepted, in bytes; larger bodies get 413.",
        int,
    ),
    Setting(
        "SCANNER_BURST_SECONDS",
        5,
        "A recipient whose clicks hit several distinct links of one campaign within this many "
        "seconds is an email security scanner; all of those clicks are flagged.",
        int,
    ),
    Setting(
        "SCANNER_BURST_LINKS",
        2,
        "How many distinct links within SCANNER_BURST_SECONDS make a scanner burst.",
        int,
    ),
    Setting(
        "SCANNER_REPEAT_SECONDS",
        1,
        "A recipient's hits from more than one network within this many seconds are a scanner.",
        int,
    ),
    Setting(
        "RECIPIENTS_MAX_BYTES",
        200 * 1024 * 1024,
        "Largest recipients upload in bytes (413 above); the import streams, so memory stays flat.",
        int,
    ),
    Setting(
        "RECIPIENTS_JOB_ROWS",
        50_000,
        "Recipients uploads with more lines than this (after the header) are imported by "
        "`touchpoint worker` as a job: 202 and a job to poll instead of the merge file at once.",
        int,
    ),
    Setting(
        "RECIPIENTS_JOB_CHUNK_ROWS",
        5000,
        "Rows a recipients job imports per transaction; a resumed job continues after the last "
        "committed chunk.",
        int,
    ),
    Setting(
        "JOB_LEASE_SECONDS",
        60,
        "How long a worker holds a job without a heartbeat; a job whose worker died is taken "
        "up by another after this.",
        int,
    ),
    Setting(
        "FUNNEL_STAGES",
        "lead,mql,sql,opportunity,sale",
        "Conversion types in funnel order, comma-separated; other type names are still accepted.",
    ),
    Setting(
        "REVENUE_TYPES",
        "sale,purchase,store_sale,redemption",
        "Conversion types every report counts when no type is asked for: their values are "
        "revenue (pipeline stages such as opportunity carry values that are not money "
        "received). type=all counts every type.",
    ),
    Setting(
        "WON_STAGES",
        "sale",
        "Conversion types that make a lead won (status won), comma-separated.",
    ),
    Setting(
        "PIPELINE_TYPES",
        "opportunity",
        "Conversion types whose values are pipeline (expected deals), reported as "
        "pipeline_value beside revenue and never added to it.",
    ),
    Setting(
        "OPPORTUNITY_STAGE",
        "opportunity",
        "The stage that creates an opportunity: the w_shaped and full_path models credit the "
        "touch before a lead first reaches it.",
    ),
    Setting(
        "HANDOFF_STAGE",
        "mql",
        "The stage at which Marketing hands a lead to Sales: the follow-up rule and the "
        "pipeline report's uncontacted count start there.",
    ),
    Setting(
        "FOLLOW_UP_HOURS",
        48,
        "An open lead that reached HANDOFF_STAGE more than this many hours ago with no sales "
        "activity (other than a note) since is uncontacted.",
        int,
    ),
    Setting(
        "STALL_DAYS",
        30,
        "An open lead with no stage change and no activity for this many days is stalled.",
        int,
    ),
    Setting(
        "LOST_REASONS",
        "competitor,no_budget,no_decision,no_approval,no_response,bad_fit,timing,other",
        "The reasons a lead can be marked lost with, comma-separated.",
    ),
    Setting(
        "GUESS_LIMIT_PER_MINUTE",
        10,
        "Code lookups that find nothing (unique or shared codes) a staff key may make per "
        "minute before 429; a client address gets three times as many.",
        int,
    ),
    Setting(
        "DEFAULT_CURRENCY",
        "USD",
        "ISO 4217 currency used when a campaign gives a cost without a currency.",
    ),
    Setting(
        "DEFAULT_COUNTRY",
        "US",
        "ISO 3166 country whose numbering plan reads phone numbers given without a +country "
        "prefix (leads' phone, calls).",
    ),
    Setting(
        "SPOOL_DIR",
        "",
        "Directory where hits wait when the database cannot take writes (full disk, locked), "
        "written to the database once it can. Empty means instance/spool; put it on another "
        "filesystem than the database so a full disk does not stop both.",
    ),
    Setting(
        "JOBS_DIR",
        "",
        "Directory for big uploads waiting for their job and the jobs' result files. Empty "
        "means a jobs folder beside the SQLite database, or instance/jobs with PostgreSQL. With "
        "several hosts, put it on storage they all mount (the worker that runs a job and the "
        "host that serves its result may not be the one that took the upload).",
    ),
    Setting(
        "ORPHAN_HITS_PER_HOUR",
        50,
        "Orphan hits (unknown tokens) kept in full per client address and hour; later ones are "
        "only counted (orphan_counts).",
        int,
    ),
    Setting(
        "ORPHAN_RETENTION_DAYS",
        30,
        "Orphan hits and their counts older than this many days are deleted by touchpoint "
        "prune (run daily by touchpoint worker). 0 keeps them forever.",
        int,
    ),
    Setting(
        "BOT_HIT_RETENTION_DAYS",
        90,
        "Clicks and scans flagged as bots or email scanners older than this many days are "
        "deleted by touchpoint prune. Human hits are never deleted. 0 keeps them forever.",
        int,
    ),
    Setting(
        "PASSWORD_HASH",
        "scrypt:32768:8:1",
        "How dashboard passwords are hashed (a Werkzeug method string: scrypt:N:r:p or "
        "pbkdf2:sha256:iterations). Existing hashes keep working when it changes.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def names(value: Any) -> tuple[str, ...]:
    """A comma-separated setting (FUNNEL_STAGES, REVENUE_TYPES) as lower-case names."""
    return tuple(s.strip().lower() for s in str(value).split(",") if s.strip())


def _coerce(setting: Setting, value: Any) -> Any:
    if setting.kind is int and not isinstance(value, int):
        try:
            return int(str(value).strip())
        except ValueError:
            raise SystemExit(
                f"Setting TOUCHPOINT_{setting.name} must be a whole number, got {value!r}"
            ) from None
    return value


def load(instance_path: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return every setting's value, following defaults -> instance/config.py -> environment."""
    environ = os.environ if environ is None else environ
    values = {s.name: s.default for s in SETTINGS}
    config_file = instance_path / "config.py"
    if config_file.exists():
        namespace = runpy.run_path(str(config_file))
        for name, value in namespace.items():
            if name in _BY_NAME:
                values[name] = _coerce(_BY_NAME[name], value)
    for setting in SETTINGS:
        env_name = f"TOUCHPOINT_{setting.name}"
        if env_name in environ:
            values[setting.name] = _coerce(setting, environ[env_name])
    return values
