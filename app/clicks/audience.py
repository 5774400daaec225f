"""Who a campaign reaches: the country of a click (from its full address, on the hot path,
before the address is anonymised) and the device type, browser and OS of its user agent
(classified when a report asks, cached by user-agent string).

Libraries, not patterns of our own: geoip2fast ships GeoLite2's country data (IPv4 and IPv6)
inside its package, so nothing is downloaded at run time; ua-parser applies uap-core's rules
(ua-parser-builtins), which its project keeps current as browsers change.

Only the country (ISO 3166 alpha-2) is stored. The address tables take ~55 MB per process,
loaded on the first hit; a lookup costs ~5 us (bench/redirect keeps the hot path honest).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

DEVICES = ("mobile", "tablet", "desktop", "bot", "unknown")
TOP = 20  # breakdowns list this many values, then "other"
OTHER = "other"
UNKNOWN = "unknown"

_geo: Any = None
_geo_lock = threading.Lock()


def _geo_db() -> Any:
    global _geo
    if _geo is None:
        with _geo_lock:
            if _geo is None:
                from geoip2fast import GeoIP2Fast  # type: ignore[import-untyped]

                # The IPv6 file holds IPv4 too; verbose=False keeps its banner off stdout.
                _geo = GeoIP2Fast(geoip2fast_data_file="geoip2fast-ipv6.dat.gz", verbose=False)
    return _geo


def country_of(address: str | None) -> str | None:
    """'81.2.69.142' -> 'GB'; None for private, reserved, unknown or malformed addresses."""
    if not address:
        return None
    try:
        code = _geo_db().lookup(address).country_code
    except Exception:  # a malformed address: the library raises its own error types
        return None
    return code if isinstance(code, str) and len(code) == 2 and code.isalpha() else None


class Agent(NamedTuple):
    device: str  # one of DEVICES
    browser: str
    os: str


@lru_cache(maxsize=65536)
def classify(user_agent: str | None) -> Agent:
    """Device type, browser family and OS family of a user-agent string."""
    if not user_agent:  # a human hit without one: erased, or a privacy tool
        return Agent(UNKNOWN, UNKNOWN, UNKNOWN)
    from ua_parser import parse

    parsed = parse(user_agent).with_defaults()
    browser, os_name = parsed.user_agent.family, parsed.os.family
    device_family = parsed.device.family or ""
    brand = (parsed.device.brand or "").lower()
    ua = user_agent.lower()
    if device_family == "Spider":
        device = "bot"
    elif (
        "ipad" in device_family.lower()
        or "tablet" in device_family.lower()
        or "tablet" in brand
        or "tablet" in ua
        or (os_name == "Android" and "mobile" not in ua)
    ):
        device = "tablet"
    elif os_name in ("iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS") or "mobi" in ua:
        device = "mobile"
    else:
        device = "desktop"
    return Agent(
        device,
        browser if browser != "Other" else UNKNOWN,
        os_name if os_name != "Other" else UNKNOWN,
    )


def top(counts: dict[str, int], limit: int = TOP) -> list[dict]:
    """[{value, count}] most first (ties by value), the rest summed as 'other'."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [{"value": value, "count": n} for value, n in ranked[:limit]]
    rest = sum(n for _, n in ranked[limit:])
    if rest:
        shown.append({"value": OTHER, "count": rest})
    return shown


def breakdowns(
    by_agent: Iterable[tuple[str | None, int]],
    by_country: Iterable[tuple[str | None, int]],
    by_referrer: Iterable[tuple[str | None, int]],
) -> dict[str, list[dict]]:
    """by_device, by_browser, by_os, by_country and by_referrer from grouped human hits:
    (user agent, count), (country, count), (referrer host, count)."""
    device: dict[str, int] = {}
    browser: dict[str, int] = {}
    os_counts: dict[str, int] = {}
    for user_agent, n in by_agent:
        agent = classify(user_agent)
        device[agent.device] = device.get(agent.device, 0) + n
        browser[agent.browser] = browser.get(agent.browser, 0) + n
        os_counts[agent.os] = os_counts.get(agent.os, 0) + n
    countries: dict[str, int] = {}
    for code, n in by_country:
        countries[code or UNKNOWN] = countries.get(code or UNKNOWN, 0) + n
    referrers: dict[str, int] = {}
    for host, n in by_referrer:
        key = host or "(direct)"
        referrers[key] = referrers.get(key, 0) + n
    return {
        "by_device": top(device),
        "by_browser": top(browser),
        "by_os": top(os_counts),
        "by_country": top(countries),
        "by_referrer": top(referrers),
    }
