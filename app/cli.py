"""The `touchpoint` command: thin click commands over the same functions the API uses.

A plain click group, not Flask's FlaskGroup: `touchpoint --help` lists Touchpoint's commands
only, without Flask's `run`, `shell` and `routes` or its `--app`, `--debug` and `--env-file`
options (`flask --app wsgi routes` still has them). Each command runs in an app context of
an app built when the command runs, so `--help` builds none.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo
from sqlite_utils import Database

from app import create_app, demo
from app.access import api_tokens, users
from app.clicks import links, visits
from app.core import db as dbmod
from app.core import settings
from app.core.errors import TouchpointError, ValidationError
from app.core.runtime import Runtime
from app.core.validation import check_http_url
from app.people import recipients
from app.reports import attribution
from app.reports import params as report_params
from app.server import serving
from app.storage import migrations

# The domain names what is wrong by its API parameter (`field`, and 'group_by' or
# ?skip_invalid=true in the message); people at a terminal typed these options instead.
CLI_OPTIONS = {
    "from": "--from",
    "to": "--to",
    "window": "--window",
    "model": "--model",
    "weights": "--weights",
    "half_life": "--half-life",
    "group_by": "--group-by",
    "type": "--type",
    "campaign_id": "--campaign-id",
    "currency": "--currency",
    "skip_invalid": "--skip-invalid",
    "base_url": "--base-url",
}
_FLAGS = {"skip_invalid"}
# 'name' (a parameter quoted), or name=value / ?name=true (a parameter set).
_MENTION = re.compile(r"'(\w+)'|\??\b(\w+)=(\w+)")


def _db():
    return current_app.extensions["touchpoint"].db()


# How the report page's messages name a parameter ("Window is a number…"): at a terminal
# the option takes the place of those words.
_SPOKEN = {
    "from": "From",
    "to": "To",
    "window": "Window",
    "model": "Model",
    "weights": "Weights",
    "half_life": "Half-life",
    "group_by": "Grouping",
    "type": "Conversion types",
    "campaign_id": "Campaign",
    "currency": "Currency",
    "base_url": "Base URL",
}


def cli_messages(exc: TouchpointError) -> str:
    """Every error of a refusal in the words of the command line, one per line."""
    return "\n".join(cli_message(error) for error in exc.errors)


def cli_message(exc: TouchpointError) -> str:
    """The domain's message in the words of the command line: `--group-by`, not 'group_by'.

    Quoted names are read as parameters only in an error about a parameter: elsewhere a
    quoted word is the user's data (an email address 'to' stays 'to').
    """
    named = CLI_OPTIONS.get(exc.field or "")

    def option(match: re.Match) -> str:
        quoted, name, value = match.groups()
        if (quoted and not named) or (quoted or name) not in CLI_OPTIONS:
            return match.group(0)
        if quoted or name in _FLAGS:
            return CLI_OPTIONS[quoted or name]
        return f"{CLI_OPTIONS[name]} {value}"

    message = _MENTION.sub(option, exc.message)
    spoken = _SPOKEN.get(exc.field or "")
    if named and spoken and message.startswith(f"{spoken} "):
        message = named + message[len(spoken) :]
        message = message.replace(" before To.", " before --to.")
    if named and named not in message:
        message = f"{named}: {message}"
    return message


def _existing_db() -> tuple[Database, str]:
    """The database to read, and its absolute path; never created here.

    A report of an empty file that a typo in TOUCHPOINT_DATABASE (or the wrong directory)
    just created would look like a quiet season; say which file is missing instead.
    """
    rt = current_app.extensions["touchpoint"]
    if dbmod.postgres.is_url(rt.database_path):
        return _existing_postgres(rt)
    path = os.path.abspath(rt.database_path)
    if "TOUCHPOINT_DATABASE" in os.environ:
        source = "TOUCHPOINT_DATABASE"
    elif rt.config["DATABASE"]:
        source = "DATABASE in instance/config.py"
    else:
        source = "the default without TOUCHPOINT_DATABASE"
    if not os.path.isfile(path):
        raise click.ClickException(
            f"No database at {path} ({source}); nothing was read or created. Set "
            "TOUCHPOINT_DATABASE to the file your server uses, or create this one with "
            "touchpoint migrate (make run does)."
        )
    try:
        db = _db()
        set_up, behind = migrations.applied(db), migrations.pending(db)
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(f"{path} is not a SQLite database ({exc}).") from None
    if not set_up:
        raise click.ClickException(
            f"{path} holds no Touchpoint tables ({source}). Set TOUCHPOINT_DATABASE to the "
            "file your server uses, or set this one up with touchpoint migrate."
        )
    if behind:
        raise click.ClickException(
            f"{path} needs {len(behind)} migration(s) first: run touchpoint migrate."
        )
    return db, path


def _existing_postgres(rt: Runtime) -> tuple[Database, str]:
    label = rt.database_label
    try:
        db = _db()
        set_up, behind = migrations.applied(db), migrations.pending(db)
    except dbmod.DATABASE_ERRORS as exc:
        raise click.ClickException(
            f"Cannot read {label} (TOUCHPOINT_DATABASE_URL): {exc}"
        ) from None
    if not set_up:
        raise click.ClickException(
            f"{label} holds no Touchpoint tables (TOUCHPOINT_DATABASE_URL); set it up with "
            "touchpoint migrate."
        )
    if behind:
        raise click.ClickException(
            f"{label} needs {len(behind)} migration(s) first: run touchpoint migrate."
        )
    return db, label


def _events_in(db: Database) -> str:
    count = db.execute("SELECT count(*) FROM events").fetchone()[0]
    return f"{count:,} event{'' if count == 1 else 's'}"


def _app(ctx: click.Context) -> Flask:
    """The app of this invocation, built once: from the settings, or the one a test hands in.

    Flask's `app.test_cli_runner()` passes its app as a ScriptInfo, as it does for `flask`.
    """
    root = ctx.find_root()
    if "touchpoint.app" not in root.meta:
        given = root.obj
        root.meta["touchpoint.app"] = (
            given.load_app() if isinstance(given, ScriptInfo) else create_app()
        )
    return root.meta["touchpoint.app"]


class AppCommand(click.Command):
    """A command whose callback runs in the app context (current_app, the runtime)."""

    def invoke(self, ctx: click.Context) -> Any:
        with _app(ctx).app_context():
            return super().invoke(ctx)


class AppGroup(click.Group):
    """A group whose commands are AppCommands and whose subgroups are AppGroups."""

    command_class = AppCommand
    group_class = type


@click.group(cls=AppGroup)
def cli() -> None:
    """Touchpoint: tracking links, coupons and offline attribution.

    Settings come from instance/config.py and TOUCHPOINT_* environment variables
    (see README.md, "Settings").
    """


@cli.command()
def migrate() -> None:
    """Create the database or bring it up to date (safe to run again)."""
    applied = migrations.apply(_db())
    if applied:
        click.echo(f"Applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        click.echo("Database is up to date.")


@cli.command()
@click.option(
    "--url",
    default=settings.LOCAL_BASE_URL,
    show_default=True,
    help="Address the server will listen on, for the welcome message.",
)
@click.option(
    "--admin-email",
    default="admin@touchpoint.local",
    show_default=True,
    help="Email of the first dashboard admin (only used when there are no users yet).",
)
def bootstrap(url: str, admin_email: str) -> None:
    """Migrate; on first start create a dashboard admin and an admin API token, printed once.

    make run runs this before touchpoint serve. Only the start that creates the first
    account and the first token prints them; touchpoint token create --role admin and
    touchpoint user reset-password make new ones.
    """
    db = _db()
    migrations.apply(db)
    rt = current_app.extensions["touchpoint"]
    click.echo(f"Touchpoint database: {rt.database_label}")
    if not users.any_exist(db):
        try:
            password, user = users.create(
                db, admin_email, "admin", hash_method=rt.config["PASSWORD_HASH"]
            )
        except TouchpointError as exc:
            raise click.UsageError(f"--admin-email: {exc.message}") from None
        click.echo("")
        click.echo("=" * 72)
        click.echo("  First start: a dashboard admin was created. The password is shown")
        click.echo("  only once, so copy it now (change it under Account after signing in):")
        click.echo("")
        click.echo(f"    Dashboard  {url}/dashboard/")
        click.echo(f"    Email      {user['email']}")
        click.echo(f"    Password   {password}")
        click.echo("=" * 72)
    if not api_tokens.any_exist(db):
        secret, _ = api_tokens.create(db, "first admin", "admin")
        click.echo("")
        click.echo("=" * 72)
        click.echo("  First start: an admin API token was created. It is shown only once,")
        click.echo("  so copy it now (touchpoint token create makes more):")
        click.echo("")
        click.echo(f"    {secret}")
        click.echo("")
        click.echo(f'  Try: curl -H "Authorization: Bearer {secret}" {url}/api/v1/campaigns')
        click.echo("=" * 72)
    click.echo(
        f"Touchpoint is starting on {url}  (API: {url}/api/v1, spec: {url}/api/v1/openapi.json)"
    )


@cli.command()
@click.option(
    "--bind", default="127.0.0.1:8000", show_default=True, help="Address and port to listen on."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=serving.WORKERS,
    show_default=True,
    help="gunicorn worker processes.",
)
@click.option(
    "--worker-class",
    type=click.Choice(serving.WORKER_CLASSES),
    default=serving.WORKER_CLASS,
    show_default=True,
    help="gunicorn worker class; gevent keeps slow clients from holding a worker (README, "
    '"Performance").',
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Write gunicorn's access log to standard output.",
)
def serve(bind: str, workers: int, worker_class: str, access_log: bool) -> None:
    """Serve Touchpoint with gunicorn and a job worker beside it, as make run does.

    gunicorn gets app/server/serving.py's command line: gevent workers, the access log on
    standard output, --forwarded-allow-ips from TOUCHPOINT_TRUSTED_PROXIES. One touchpoint
    worker runs beside it; Ctrl-C or SIGTERM stops both.
    """
    rt = current_app.extensions["touchpoint"]
    argv = serving.gunicorn_argv(
        bind,
        workers=workers,
        worker_class=worker_class,
        access_log="-" if access_log else None,
        forwarded_allow_ips=visits.forwarded_allow_ips(str(rt.config["TRUSTED_PROXIES"])),
    )
    sys.exit(serving.serve([argv, serving.touchpoint_argv("worker")]))


@cli.command()
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between looks at an empty queue.",
)
@click.option("--once", is_flag=True, help="Stop when the queue is empty (for scripts and tests).")
def worker(poll: float, once: bool) -> None:
    """Run background jobs (big recipients uploads); run one or more beside gunicorn.

    touchpoint serve starts one. A worker uses the same settings and database as the
    server. Stops on SIGTERM or Ctrl-C: the job in hand goes back to the queue and continues
    where it stopped. Jobs of a worker killed outright are taken up again after
    TOUCHPOINT_JOB_LEASE_SECONDS.
    """
    from app.server import worker as worker_loop

    _existing_db()
    rt = current_app.extensions["touchpoint"]
    sys.exit(
        worker_loop.run(rt, poll_seconds=poll, once=once, log=lambda m: click.echo(m, err=True))
    )


@cli.group()
def token() -> None:
    """Create, list and revoke management API tokens."""


@token.command("create")
@click.option("--name", required=True, help="What the token is for, e.g. 'CRM sync'.")
@click.option(
    "--role",
    type=click.Choice(api_tokens.ROLES),
    default=api_tokens.LEAST_PRIVILEGE,
    show_default=True,
    help="admin may also manage tokens, locations, staff keys and erase leads.",
)
def token_create(name: str, role: str) -> None:
    """Create a token and print only the token on stdout (shown once).

    So T=$(touchpoint token create --name ci) works. A marketer token unless --role admin.
    """
    try:
        secret, _ = api_tokens.create(_db(), name, role)
    except TouchpointError as exc:
        raise click.UsageError(exc.message) from None
    click.echo(secret)


@token.command("list")
def token_list() -> None:
    """List tokens: id, prefix, name, role, created, last used, revoked."""
    rows = api_tokens.list_all(_db())
    if not rows:
        click.echo("No tokens yet: touchpoint token create --name NAME")
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        click.echo(
            f"{row['id']:>4}  {row['prefix']}…  {row['name']:<24}  {row['role']:<8}"
            f"  created {row['created_at']}"
            f"  last used {row['last_used_at'] or 'never'}  {state}"
        )


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke the token with this id (see `touchpoint token list`)."""
    try:
        api_tokens.revoke(_db(), token_id)
    except TouchpointError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Token {token_id} revoked.")


@cli.group("user")
def user_group() -> None:
    """Create and manage dashboard accounts."""


@user_group.command("create")
@click.option("--email", required=True, help="The account's email address (its sign-in name).")
@click.option(
    "--role",
    type=click.Choice(users.ROLES),
    default="marketer",
    show_default=True,
    help="admin: everything, including users, locations and staff keys; marketer: the rest.",
)
@click.option("--name", default="", help="Display name.")
def user_create(email: str, role: str, name: str) -> None:
    """Create an account and print its random password (shown once)."""
    rt = current_app.extensions["touchpoint"]
    try:
        password, _ = users.create(
            _db(), email, role, name=name, hash_method=rt.config["PASSWORD_HASH"]
        )
    except TouchpointError as exc:
        raise click.UsageError(exc.message) from None
    click.echo(password)


@user_group.command("list")
def user_list() -> None:
    """List accounts: id, email, role, last sign-in, disabled."""
    rows = users.list_all(_db())
    if not rows:
        click.echo("No users yet: touchpoint user create --email EMAIL --role admin")
        return
    for row in rows:
        state = f"disabled {row['disabled_at']}" if row["disabled_at"] else "active"
        click.echo(
            f"{row['id']:>4}  {row['email']:<32}  {row['role']:<8}  "
            f"last sign-in {row['last_sign_in_at'] or 'never'}  {state}"
        )


@user_group.command("reset-password")
@click.argument("email")
def user_reset_password(email: str) -> None:
    """Give an account a new random password (printed once) and sign it out everywhere."""
    rt = current_app.extensions["touchpoint"]
    db = _db()
    row = next((u for u in users.list_all(db) if u["email"].lower() == email.lower()), None)
    if row is None:
        raise click.ClickException(f"No account for {email}.")
    click.echo(users.reset_password(db, row["id"], hash_method=rt.config["PASSWORD_HASH"]))


@cli.group("recipients")
def recipients_group() -> None:
    """Per-recipient tracked links for mail merge."""


@recipients_group.command("import")
@click.argument("link_id", type=int)
@click.argument("file", type=click.File("rb"))
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    show_default=True,
    help="Where to write the mail-merge CSV (every row + lead_id, tracked_url, error, ref_code).",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the good rows even when some are invalid (they are listed).",
)
@click.option(
    "--base-url",
    default=None,
    help="Prefix of the tracked URLs, the address customers will click. Default: the "
    f"PUBLIC_BASE_URL setting (TOUCHPOINT_PUBLIC_BASE_URL), else {settings.LOCAL_BASE_URL} "
    "(where make run listens).",
)
def recipients_import(link_id: int, file, output, skip_invalid: bool, base_url: str | None) -> None:
    """Import FILE (CSV with an 'email' column) for LINK_ID and write the merge file.

    Without --skip-invalid nothing is imported when a row is bad; every bad row is listed
    with its line number. Exit status 1 then, 0 on success. The base URL the links were
    minted with, and the database, are named on stderr.
    """
    rt = current_app.extensions["touchpoint"]
    base, source = _minting_base(rt, base_url)
    db, path = _existing_db()
    try:
        links.get(db, link_id)
        size = os.fstat(file.fileno()).st_size if hasattr(file, "fileno") else 0
        bar: Any
        with click.progressbar(
            length=size or None, label="Reading", file=sys.stderr, show_eta=True
        ) as bar:
            parsed = recipients.parse_csv(file, progress=bar.update)
        result = recipients.import_parsed(
            db, link_id, parsed, rt.link_tokens, base, skip_invalid=skip_invalid
        )
    except TouchpointError as exc:
        raise _refused(exc) from None
    for chunk in recipients.csv_chunks(result):
        output.write(chunk)
    for bad in result.invalid:
        click.echo(f"line {bad['line']}: {bad['reason']} (skipped)", err=True)
    click.echo(f"{result.imported} imported, {len(result.invalid)} invalid, into {path}.", err=True)
    click.echo(f"Tracked URLs minted with base URL {base} ({source}).", err=True)


@cli.group("links")
def links_group() -> None:
    """Tracked links in bulk."""


@links_group.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    show_default=True,
    help="Where to write the links as CSV (line, id, url, qr_url, token_url, ...).",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Create the good rows even when some are invalid (they are listed).",
)
@click.option(
    "--base-url",
    default=None,
    help="Prefix of the token URLs. Default: the PUBLIC_BASE_URL setting "
    f"(TOUCHPOINT_PUBLIC_BASE_URL), else {settings.LOCAL_BASE_URL} (where make run listens).",
)
def links_import(file, output, skip_invalid: bool, base_url: str | None) -> None:
    """Create a link for every row of FILE (CSV: campaign_id, destination, and optionally
    label, slug, domain, store_code, utm_content, utm_term, tags, offer_id, partner_code,
    expires_at, fallback_url) and write them with their URLs.

    Without --skip-invalid nothing is created when a row is bad; every bad row is listed
    with its line number, and the exit status is 1.
    """
    from app.clicks import bulk_links

    rt = current_app.extensions["touchpoint"]
    base, source = _minting_base(rt, base_url)
    db, path = _existing_db()
    try:
        rows = bulk_links.rows_from_csv(file.read())
        bar: Any
        with click.progressbar(
            length=len(rows), label="Checking and creating", file=sys.stderr, show_eta=True
        ) as bar:
            result = bulk_links.create(
                db,
                rows,
                public_base_url=rt.config["PUBLIC_BASE_URL"],
                skip_invalid=skip_invalid,
                progress=bar.update,
            )
    except TouchpointError as exc:
        raise _refused(exc) from None
    shape = bulk_links.shaper(db, rt.link_tokens, base)
    for chunk in bulk_links.csv_rows(result, shape):
        output.write(chunk)
    for bad in result.invalid:
        click.echo(f"line {bad['line']}: {bad['reason']} (skipped)", err=True)
    click.echo(
        f"{len(result.links)} links created, {len(result.invalid)} invalid, in {path}.", err=True
    )
    click.echo(f"Token URLs minted with base URL {base} ({source}).", err=True)


def _minting_base(rt: Runtime, given: str | None) -> tuple[str, str]:
    """(the base URL imported links are minted with, what chose it): --base-url, else the
    PUBLIC_BASE_URL setting, else where make run listens. A bad one is a usage error."""
    if given:
        base, source = given.rstrip("/"), "--base-url"
    elif rt.config["PUBLIC_BASE_URL"]:
        base, source = rt.config["PUBLIC_BASE_URL"], "the PUBLIC_BASE_URL setting"
    else:
        base = settings.LOCAL_BASE_URL
        source = "where make run listens; --base-url or TOUCHPOINT_PUBLIC_BASE_URL sets another"
    try:
        check_http_url(base, "base_url" if given else "PUBLIC_BASE_URL")
    except ValidationError as exc:
        raise click.UsageError(cli_message(exc)) from None
    return base, source


def _refused(exc: TouchpointError) -> click.ClickException:
    """An import refused: every bad row listed on stderr, then the reason (exit status 1)."""
    for bad in exc.extra.get("invalid", []):
        click.echo(f"line {bad['line']}: {bad['reason']}", err=True)
    return click.ClickException(cli_message(exc))


@cli.command("demo")
@click.option(
    "--seed",
    type=int,
    default=demo.DEFAULT_SEED,
    show_default=True,
    help="The same seed gives the same season (relative to today).",
)
@click.option(
    "--days",
    type=click.IntRange(demo.MIN_DAYS, demo.MAX_DAYS),
    default=demo.DEFAULT_DAYS,
    show_default=True,
    help="How many days up to today the season covers (more days, more data).",
)
def demo_command(seed: int, days: int) -> None:
    """Fill an EMPTY database with a synthetic season, to try the reports out.

    A running-shoe retailer's nine campaigns over eight channels (email, search, social,
    display, print, in-store, trade show, referral) with their costs; clicks and QR scans
    with bots, link previewers and email security scanners; coupon claims, redemptions at
    three stores (a few voided), booth scans at a trade show, and CRM conversions from lead
    to sale. About 35,000 events for the default 90 days, built in well under a minute.

    Only an empty database is filled: when it holds campaigns, links, events or any other
    data, nothing is written and the exit status is 1 (point TOUCHPOINT_DATABASE at a new
    file). Migrations run first. No API tokens or users are created; staff keys are, but
    their secrets are never shown (create new ones to sign in at /staff).
    """
    import time

    rt = current_app.extensions["touchpoint"]
    started = time.perf_counter()
    try:
        summary = demo.build(_db(), rt, seed=seed, days=days)
    except demo.NotEmpty as exc:
        raise click.ClickException(
            f"{exc} touchpoint demo fills only an empty database: set TOUCHPOINT_DATABASE to a "
            f"new file (now {rt.database_label})."
        ) from None
    elapsed = time.perf_counter() - started
    season = summary.season
    click.echo(
        f"Filled {rt.database_label} with a {days}-day demo season (seed {seed}), "
        f"{season.start:%Y-%m-%d} to {season.end:%Y-%m-%d %H:%M} UTC, in {elapsed:.1f} s:"
    )
    events = dict(summary.events)
    bots, scanners = events.pop("bots"), events.pop("scanners")
    for table, count in summary.tables.items():
        line = f"  {table:<14}{count:>8,}"
        if table == "events":
            kinds = ", ".join(f"{kind} {n:,}" for kind, n in events.items())
            line += f"  ({kinds}; {bots:,} by bots, {scanners:,} of them email scanners)"
        click.echo(line)
    click.echo(
        "Next: make run, sign in at /dashboard/ with the admin it prints, or try "
        "touchpoint report attribution --group-by channel"
    )


@cli.command("prune")
def prune_command() -> None:
    """Delete old orphan hits and old bot hits, and write spooled hits to the database.

    Orphan hits (unknown tokens) and their hourly counts older than
    TOUCHPOINT_ORPHAN_RETENTION_DAYS, and clicks and scans flagged as bots or email scanners
    older than TOUCHPOINT_BOT_HIT_RETENTION_DAYS, are deleted (0 keeps them). Human hits are
    never deleted, nor a bot hit a conversion names. touchpoint worker runs this once a day.
    """
    import time

    from app.clicks import spool
    from app.server import maintenance

    rt = current_app.extensions["touchpoint"]
    db, path = _existing_db()
    added = spool.drain(db, rt.config["SPOOL_DIR"], rt.config["ORPHAN_HITS_PER_HOUR"])
    removed = maintenance.prune(db, rt.config, time.time())
    click.echo(
        f"Pruned {path}: {removed['orphan_hits']:,} orphan hits and "
        f"{removed['orphan_counts']:,} orphan counts (older than "
        f"{rt.config['ORPHAN_RETENTION_DAYS']} days), {removed['bot_hits']:,} bot hits (older "
        f"than {rt.config['BOT_HIT_RETENTION_DAYS']} days); {added:,} spooled hits written."
    )


def main() -> None:
    cli(prog_name="touchpoint")


# Reports -----------------------------------------------------------------------------------


@cli.group("report")
def report_group() -> None:
    """Attribution reports, and the tables derived from events that make them fast."""


@report_group.command("attribution")
@click.option(
    "--from",
    "from_",
    default=None,
    help="Start (ISO 8601 time or date, UTC when no offset); default: 30 days before --to.",
)
@click.option("--to", default=None, help="End, excluded (ISO 8601); default: now.")
@click.option(
    "--window",
    default=attribution.format_duration(report_params.DEFAULT_WINDOW_S),
    show_default=True,
    help="How long before a conversion a touch still counts: 90s, 30m, 12h, 7d.",
)
@click.option(
    "--model",
    type=click.Choice(attribution.MODELS),
    default=report_params.DEFAULT_MODEL,
    show_default=True,
    help="How a conversion's credit is shared among its touches.",
)
@click.option(
    "--weights",
    default=None,
    help="position_based: first,middle,last percentages adding up to 100 (default "
    f"{','.join(map(str, attribution.DEFAULT_WEIGHTS))}); w_shaped: first,lead-creation,"
    "opportunity-creation,others (default "
    f"{','.join(map(str, attribution.W_SHAPED_WEIGHTS))}); full_path's are fixed.",
)
@click.option(
    "--half-life",
    default=None,
    help="time_decay only: a touch this much older gets half the weight (default "
    f"{attribution.format_duration(attribution.DEFAULT_HALF_LIFE_S)}).",
)
@click.option(
    "--group-by",
    type=click.Choice(report_params.GROUP_BYS),
    default=report_params.DEFAULT_GROUP_BY,
    show_default=True,
    help="What one row is.",
)
@click.option(
    "--type",
    "type_",
    default=None,
    help="Conversion types to count, comma-separated; 'redemption' means redemptions, 'all' "
    "every type (default: TOUCHPOINT_REVENUE_TYPES, "
    f"{next(s.default for s in settings.SETTINGS if s.name == 'REVENUE_TYPES')}).",
)
@click.option(
    "--campaign-id", type=int, default=None, help="Only credit and costs of this campaign."
)
@click.option(
    "--currency",
    default=None,
    help="Report in this currency, leaving others out (needed when several are in use).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(report_params.FORMATS),
    default="csv",
    show_default=True,
    help="json: the API's answer; csv: a header, the rows and a totals row.",
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    show_default=True,
    help="Where to write the table.",
)
def report_attribution(
    from_,
    to,
    window,
    model,
    weights,
    half_life,
    group_by,
    type_,
    campaign_id,
    currency,
    fmt,
    output,
) -> None:
    """Write the attribution table, the same as GET /api/v1/reports/attribution.

    Reads instance/touchpoint.db, or the file TOUCHPOINT_DATABASE names (said on stderr,
    so the table on stdout or in -o stays clean); a missing database is an error (exit
    status 1, nothing is created). A bad option exits 2, naming the option.
    """
    import json

    from app import reports
    from app.core import clock, settings

    given = {
        "from": from_,
        "to": to,
        "window": window,
        "model": model,
        "weights": weights,
        "half_life": half_life,
        "group_by": group_by,
        "type": type_,
        "campaign_id": None if campaign_id is None else str(campaign_id),
        "currency": currency,
    }
    args = {name: value for name, value in given.items() if value is not None}
    rt = current_app.extensions["touchpoint"]
    db, path = _existing_db()
    try:
        params = reports.attribution_params(
            db, args, clock.utcnow(), revenue_types=settings.names(rt.config["REVENUE_TYPES"])
        )
        report = reports.attribute(
            db,
            params,
            default_currency=rt.config["DEFAULT_CURRENCY"],
            rules=rt.pipeline_rules,
            reader=rt.reports_db(),
        )
    except ValidationError as exc:
        raise click.UsageError(cli_messages(exc)) from None
    if fmt == "csv":
        output.write(reports.to_csv(report).replace("\r\n", "\n"))
    else:
        output.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    click.echo(f"Read {path} ({_events_in(db)}).", err=True)


@report_group.command("pipeline")
@click.option(
    "--from",
    "from_",
    default=None,
    help="Leads created from (ISO 8601 time or date, UTC when no offset); default: 30 days "
    "before --to.",
)
@click.option("--to", default=None, help="Leads created before (ISO 8601); default: now.")
@click.option(
    "--group-by",
    type=click.Choice(report_params.PIPELINE_GROUP_BYS),
    default=None,
    help="One group per first-touch campaign or channel, or per the leads' source, owner, "
    "origin or partner (default: the whole cohort).",
)
@click.option(
    "--campaign-id",
    type=int,
    default=None,
    help="Only the leads whose first touch is of this campaign.",
)
@click.option(
    "--currency",
    default=None,
    help="Values in this currency, leaving others out (needed when several are in use).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(report_params.FORMATS),
    default="csv",
    show_default=True,
    help="json: the API's answer; csv: one row per group and stage.",
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    show_default=True,
    help="Where to write the report.",
)
def report_pipeline(from_, to, group_by, campaign_id, currency, fmt, output) -> None:
    """Write the pipeline report, the same as GET /api/v1/reports/pipeline: the leads
    created in the period, followed through the stages to today.

    Reads instance/touchpoint.db, or the file TOUCHPOINT_DATABASE names (said on stderr,
    so the report on stdout or in -o stays clean); a missing database is an error (exit
    status 1, nothing is created). A bad option exits 2, naming the option.
    """
    import json

    from app import reports
    from app.core import clock

    given = {
        "from": from_,
        "to": to,
        "group_by": group_by,
        "campaign_id": None if campaign_id is None else str(campaign_id),
        "currency": currency,
    }
    args = {name: value for name, value in given.items() if value is not None}
    rt = current_app.extensions["touchpoint"]
    db, path = _existing_db()
    now = clock.utcnow()
    try:
        params = reports.pipeline_params(db, args, now)
        report = reports.pipeline_report(
            db,
            params,
            rules=rt.pipeline_rules,
            now=now,
            default_currency=rt.config["DEFAULT_CURRENCY"],
            reader=rt.reports_db(),
        )
    except ValidationError as exc:
        raise click.UsageError(cli_messages(exc)) from None
    if fmt == "csv":
        output.write(reports.pipeline_csv(report).replace("\r\n", "\n"))
    else:
        output.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    leads = report["totals"]["leads"]
    click.echo(f"Read {path} ({leads:,} lead{'' if leads == 1 else 's'} in the cohort).", err=True)


@report_group.command("refresh")
@click.option("--rebuild", is_flag=True, help="Empty the report tables and sum every event again.")
def report_refresh(rebuild: bool) -> None:
    """Bring the report tables up to date with the events.

    Reports do this themselves before answering; run it after upgrading or a large import so
    the first report is not the one that waits (or from cron on a busy install). Works on
    instance/touchpoint.db, or the file TOUCHPOINT_DATABASE names (said on stderr); a
    missing database is an error.
    """
    import time

    from . import storage

    db, path = _existing_db()
    started = time.perf_counter()
    done = storage.rebuild_report_tables(db) if rebuild else storage.refresh_report_tables(db)
    elapsed = time.perf_counter() - started
    click.echo(f"{done} event(s) summed in {elapsed:.1f} s; report tables are up to date.")
    click.echo(f"Refreshed {path} ({_events_in(db)}).", err=True)
