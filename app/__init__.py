"""Touchpoint: self-hosted tracking links, coupons and offline attribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from app.clicks import visits
from app.clicks.link_tokens import BadgeTokens, LinkTokens
from app.core import postgres, secret_key, settings
from app.core.runtime import PipelineRules, Runtime, ScannerRules
from app.views import sessions

ROOT = Path(__file__).resolve().parent.parent


def _up_to(bound: int) -> str:
    """A regex for the decimal numbers 1..bound, without leading zeros."""
    top = str(bound)
    parts = [rf"[1-9]\d{{0,{len(top) - 2}}}"] if len(top) > 1 else []
    for i, digit in enumerate(top):
        low = "1" if i == 0 else "0"
        if int(digit) > int(low):
            parts.append(rf"{top[:i]}[{low}-{int(digit) - 1}]\d{{{len(top) - i - 1}}}")
    parts.append(top)
    return "(?:" + "|".join(parts) + ")"


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive integer that fits SQLite, so huge numbers are a 404, not a 500.

    The range is in the regex, not only in to_python: a path refused by to_python falls
    through to the next rule, and a rule for another method then answered 405 (issue 12).
    """

    regex = _up_to(2**63 - 1)

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=2**63 - 1)


def create_app(
    overrides: dict[str, Any] | None = None,
    instance_path: str | Path | None = None,
    environ: dict[str, str] | None = None,
) -> Flask:
    """Build the app: settings from defaults, instance/config.py, TOUCHPOINT_* and overrides."""
    instance = Path(instance_path) if instance_path else ROOT / "instance"
    app = Flask(
        __name__,
        instance_path=str(instance),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    config = settings.load(instance, environ)
    config.update(overrides or {})
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = secret_key.load_or_create(instance)
    database_path = str(config["DATABASE_URL"]).strip()
    if database_path and not postgres.is_url(database_path):
        raise SystemExit("TOUCHPOINT_DATABASE_URL must start with postgresql://")
    reports_url = str(config["REPORTS_DATABASE_URL"]).strip()
    if reports_url and not (postgres.is_url(reports_url) and database_path):
        raise SystemExit(
            "TOUCHPOINT_REPORTS_DATABASE_URL must start with postgresql:// and name a standby "
            "of TOUCHPOINT_DATABASE_URL (a PostgreSQL database)"
        )
    config["REPORTS_DATABASE_URL"] = reports_url
    if not database_path:
        database_path = config["DATABASE"] or str(instance / "touchpoint.db")
        Path(database_path).parent.mkdir(parents=True, exist_ok=True)
    config["SPOOL_DIR"] = str(config["SPOOL_DIR"] or instance / "spool")
    beside = instance if postgres.is_url(database_path) else Path(database_path).resolve().parent
    config["JOBS_DIR"] = str(config["JOBS_DIR"] or beside / "jobs")
    old_keys = [k.strip() for k in str(config["OLD_SECRET_KEYS"]).split(",") if k.strip()]
    config["PUBLIC_BASE_URL"] = str(config["PUBLIC_BASE_URL"]).rstrip("/")

    app.config.update(
        SECRET_KEY=config["SECRET_KEY"],
        MAX_CONTENT_LENGTH=config["MAX_CONTENT_LENGTH"],
        JSON_SORT_KEYS=False,
        # Lax, not Strict: a bookmarked page opened from another site's link stays signed in;
        # cross-site POSTs still arrive without the cookie (a second wall behind CSRF tokens).
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
    )
    json_provider = app.json
    # sort_keys and ensure_ascii are options of Flask's default provider, the one in use.
    assert isinstance(json_provider, DefaultJSONProvider)
    json_provider.sort_keys = False
    sessions.install(app)
    json_provider.ensure_ascii = False
    app.extensions["touchpoint"] = Runtime(
        config=config,
        database_path=database_path,
        link_tokens=LinkTokens(config["SECRET_KEY"], old_keys),
        badge_tokens=BadgeTokens(config["SECRET_KEY"], old_keys),
        trusted_proxies=visits.parse_networks(str(config["TRUSTED_PROXIES"])),
        scanner_rules=ScannerRules(
            burst_seconds=config["SCANNER_BURST_SECONDS"],
            burst_links=config["SCANNER_BURST_LINKS"],
            repeat_seconds=config["SCANNER_REPEAT_SECONDS"],
        ),
        pipeline_rules=PipelineRules.from_config(config),
    )

    from .views import (
        api,
        assets,
        coupon,
        dashboard,
        errors,
        health,
        jobs,
        permissions,
        pos,
        redirect,
        reports,
        staff,
    )

    app.url_map.converters["id"] = IdConverter

    app.register_blueprint(redirect.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(pos.bp)
    app.register_blueprint(coupon.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(health.bp)
    dashboard.register(app)
    errors.register(app)
    permissions.check_declared(app)
    app.wsgi_app = redirect.HotPath(app, app.wsgi_app)
    return app


def runtime(app: Flask) -> Runtime:
    return app.extensions["touchpoint"]
