"""Who is visiting: client address, its anonymised form, and the visitor GUID.

Plain functions over strings so the redirect view stays thin and these stay testable alone.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from functools import lru_cache

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.1, 192.168.0.0/16, ::1` -> networks; raises SystemExit on a bad entry."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SystemExit(
                f"TOUCHPOINT_TRUSTED_PROXIES: {item!r} is not an address or range"
            ) from None
    return tuple(networks)


def forwarded_allow_ips(trusted_proxies: str) -> str:
    """gunicorn's `--forwarded-allow-ips` for TOUCHPOINT_TRUSTED_PROXIES: the same networks.

    gunicorn sets the request's scheme (wsgi.url_scheme, Flask's request.scheme) from
    X-Forwarded-Proto for peers in that list, and its default is 127.0.0.1,::1; given this,
    it believes exactly the proxies we do. Empty gives "" (trust none). Networks are written
    normalised (10.0.0.0/24), since gunicorn refuses one with host bits set (10.0.0.5/24).
    """
    return ",".join(str(network) for network in parse_networks(trusted_proxies))


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(
    remote_addr: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]
) -> str | None:
    """The client's address: the socket peer, unless that peer is a trusted proxy.

    Behind trusted proxies, walk X-Forwarded-For from the right and take the first hop that is
    not itself trusted; a client cannot spoof past the proxies we know.
    """
    if not trusted or not remote_addr or not forwarded_for:
        return remote_addr
    if not _is_trusted(remote_addr, trusted):
        return remote_addr
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else remote_addr


def peer_is_trusted(remote_addr: str | None, trusted: tuple[Network, ...]) -> bool:
    return bool(trusted and remote_addr and _is_trusted(remote_addr, trusted))


def request_scheme(environ: dict, trusted: tuple[Network, ...]) -> str:
    """The scheme the client used; X-Forwarded-Proto only counts from a trusted proxy."""
    if trusted and peer_is_trusted(environ.get("REMOTE_ADDR"), trusted):
        proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            return proto
    return environ.get("wsgi.url_scheme", "http")


def request_host(environ: dict, trusted: tuple[Network, ...]) -> tuple[str, str]:
    """(the host the client asked for, lower case, as sent with any port; the same without
    the port). X-Forwarded-Host only counts from a trusted proxy, as X-Forwarded-Proto does."""
    host = ""
    if trusted and peer_is_trusted(environ.get("REMOTE_ADDR"), trusted):
        host = environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip()
    host = (host or environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or "").lower()
    bare = host.rpartition(":")[0] if ":" in host and not host.endswith("]") else host
    return host, bare


@lru_cache(maxsize=16384)
def anonymize_ip(address: str | None) -> str | None:
    """IPv4 to its /24 (203.0.113.0), IPv6 to its /48; not an address -> None."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def wants_privacy(gpc: str | None, dnt: str | None) -> bool:
    """Global Privacy Control or Do Not Track: log the hit, but anonymously and cookie-free."""
    return (gpc or "").strip() == "1" or (dnt or "").strip() == "1"


def visitor_id(cookie_value: str | None) -> tuple[str, bool]:
    """Return (visitor GUID, is_new): reuse a well-formed cookie, else mint a UUID4."""
    if cookie_value and _UUID_RE.match(cookie_value):
        return cookie_value, False
    return str(uuid.uuid4()), True
