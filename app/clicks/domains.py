"""Branded short domains (go.fernway.example): which hosts serve links, and where a domain's
root and unknown paths send a visitor.

A domain is named by its host alone, lower case and in its IDNA form, with a port only when
links are served on one (a test or staging server). Requests are matched by the Host they
came with (app/clicks/visits.py `request_host`: X-Forwarded-Host counts only from a trusted
proxy); a host that is not configured is the default domain, so branded links never answer
on a host nobody configured.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from sqlite_utils import Database

from app import storage
from app.core import clock, validation
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound, ValidationError

# How long a process trusts its list of configured hosts: a domain added on one worker or
# host routes everywhere within this many seconds (at once in the process that added it).
HOSTS_TTL_S = 5.0
_hosts: dict[str, tuple[float, frozenset[str]]] = {}  # database -> (read at, hosts)
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CREATE_FIELDS = {"host", "default_redirect"}
_PATCH_FIELDS = {"default_redirect"}


def normalize_host(text: object, field: str = "host") -> str:
    """'Go.Fernway.Example.' -> 'go.fernway.example'; 'bücher.example' -> 'xn--bcher-kva.example'.

    Raises ValidationError naming `field` for anything that is not a host name (a scheme, a
    path, an IP address, one label) with an optional port."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(
            "Give the host name, such as go.fernway.example.", field=field, code=ErrorCode.REQUIRED
        )
    value = text.strip().lower()
    if "://" in value or "/" in value or "@" in value or "[" in value:
        raise ValidationError(
            "Give the host alone, such as go.fernway.example: no scheme, path or address.",
            field=field,
            code=ErrorCode.INVALID_HOST,
        )
    host, _, port = value.partition(":")
    host = host.rstrip(".")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValidationError(
            f"'{port}' is not a port number.", field=field, code=ErrorCode.INVALID_HOST
        )
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        ascii_host = ""
    labels = ascii_host.split(".")
    if (
        len(labels) < 2
        or len(ascii_host) > 253
        or not all(_LABEL_RE.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValidationError(
            f"'{text.strip()}' is not a host name such as go.fernway.example.",
            field=field,
            code=ErrorCode.INVALID_HOST,
        )
    return ascii_host + (f":{int(port)}" if port else "")


def configured_hosts(db: Database, database: str) -> frozenset[str]:
    """Every configured domain's host, read at most once per HOSTS_TTL_S in a process for
    each `database` (its path or URL): the click path asks on every slug hit, and domains change
    a few times a year."""
    read_at, hosts = _hosts.get(database, (0.0, frozenset()))
    now = time.monotonic()
    if now - read_at >= HOSTS_TTL_S or now < read_at or not read_at:
        hosts = storage.domain_hosts(db)
        _hosts[database] = (now, hosts)
    return hosts


def forget_hosts() -> None:
    """The next configured_hosts reads them again (this process changed them)."""
    _hosts.clear()


def host_domain(db: Database, database: str, host: str, bare_host: str) -> str | None:
    """The configured domain a request's host names (as sent with its port, else without),
    None for the default domain."""
    hosts = configured_hosts(db, database)
    if host in hosts:
        return host
    return bare_host if bare_host in hosts else None


def default_host(public_base_url: str) -> str | None:
    """The default domain's host: PUBLIC_BASE_URL's, None when that is not set."""
    if not public_base_url:
        return None
    return (urlsplit(public_base_url).netloc or "").lower() or None


def create(db: Database, payload: dict, *, public_base_url: str = "") -> dict:
    validation.require_object(payload)
    check = validation.Collector()
    check(validation.reject_unknown, payload, _CREATE_FIELDS)
    host = check(normalize_host, payload.get("host"))
    redirect = check(validation.http_url, payload, "default_redirect")
    check.done()
    assert host is not None
    if host == default_host(public_base_url):
        raise Conflict(
            f"{host} is the default domain (TOUCHPOINT_PUBLIC_BASE_URL); its links need no domain.",
            field="host",
            code=ErrorCode.DOMAIN_EXISTS,
        )
    if storage.get_domain_by_host(db, host) is not None:
        raise Conflict(
            f"The domain {host} is configured already.",
            field="host",
            code=ErrorCode.DOMAIN_EXISTS,
        )
    now = clock.now_iso()
    domain_id = storage.insert_domain(
        db, {"host": host, "default_redirect": redirect, "created_at": now, "updated_at": now}
    )
    forget_hosts()
    return get(db, domain_id)


def get(db: Database, domain_id: int) -> dict:
    row = storage.get_domain(db, domain_id)
    if row is None:
        raise NotFound(f"No domain with id {domain_id}.", code=ErrorCode.DOMAIN_NOT_FOUND)
    return {**row, "links": storage.count_domain_links(db, row["host"])}


def list_all(db: Database) -> list[dict]:
    return storage.list_domains(db)


def update(db: Database, domain_id: int, payload: dict) -> dict:
    get(db, domain_id)
    validation.require_object(payload)
    check = validation.Collector()
    for key in payload:
        if key not in _PATCH_FIELDS:
            check.add(
                "Only default_redirect can be changed; a domain's host is its name (add the "
                "new host as a domain instead).",
                field=key,
                code=ErrorCode.NOT_UPDATABLE if key in _CREATE_FIELDS else ErrorCode.UNKNOWN_FIELD,
            )
    values = {}
    if "default_redirect" in payload:
        values["default_redirect"] = check(validation.http_url, payload, "default_redirect")
    check.done()
    if values:
        storage.update_domain(db, domain_id, {**values, "updated_at": clock.now_iso()})
    return get(db, domain_id)


def delete(db: Database, domain_id: int) -> None:
    row = get(db, domain_id)
    if row["links"]:
        raise Conflict(
            f"{row['links']} link(s) are on {row['host']}; a printed short link must keep "
            "working, so a domain with links cannot be removed (archive the links instead).",
            field="host",
            code=ErrorCode.DOMAIN_IN_USE,
        )
    storage.delete_domain(db, domain_id)
    forget_hosts()


def existing_host(db: Database, text: object, *, public_base_url: str = "") -> str | None:
    """A link's `domain` field: the configured host it names, or None for the default domain
    (left out, or PUBLIC_BASE_URL's own host)."""
    if text is None or text == "":
        return None
    host = normalize_host(text, "domain")
    if host == default_host(public_base_url):
        return None
    if storage.get_domain_by_host(db, host) is None:
        raise ValidationError(
            f"No domain {host}; add it first (POST /api/v1/domains).",
            field="domain",
            code=ErrorCode.UNKNOWN_DOMAIN,
        )
    return host
