"""Email security scanners caught by what they do, not by what they say.

Gateways (Safe Links, Mimecast, Proofpoint...) fetch every link of a message seconds after
delivery, from their own networks, often with an ordinary browser's user agent, so
app/clicks/bots.py cannot tell them from the recipient. Their hits on per-recipient links
give them away: several distinct links of one campaign by one recipient within
`burst_seconds`, or hits from more than one network within `repeat_seconds`. Either re-flags
every such hit as a scanner, the earlier ones included (ScannerRules: README, "Email
scanners"). Rows are never deleted.
"""

from __future__ import annotations

from sqlite_utils import Database

from app import storage
from app.clicks.hit import Hit
from app.core import clock
from app.core.runtime import ScannerRules


def record(db: Database, hit: Hit, rules: ScannerRules) -> None:
    """Insert a recipient's hit and apply its consequences in one IMMEDIATE transaction, so
    the hit, the stitched visitor and the flags land together."""
    with storage.hit_transaction(db):
        storage.insert_hit(db, hit)
        apply(db, hit, rules)


def apply(db: Database, hit: Hit, rules: ScannerRules) -> None:
    """What a recipient's hit changes once it is stored, inside the caller's transaction (a
    spooled hit replayed later does the same: app/clicks/spool.py).

    A person (not a bot) marks the lead as seen and ties this browser to the lead; then the
    two scanner rules run over the lead's recent hits, this one included.
    """
    lead_id, at = hit.lead_id, hit.at
    assert lead_id is not None, "only a recipient's hit has scanner consequences"
    if not hit.is_bot:
        storage.lead_seen(db, lead_id, at)
        if hit.visitor_id is not None:
            storage.link_visitor(db, hit.visitor_id, lead_id, at, "recipient_click")
    burst_since = clock.shift_iso(at, -rules.burst_seconds)
    if storage.lead_campaign_links(db, lead_id, hit.campaign_id, burst_since, at) >= (
        rules.burst_links
    ):
        storage.flag_lead_hits(
            db, "scanner:burst", lead_id, burst_since, at, campaign_id=hit.campaign_id
        )
    repeat_since = clock.shift_iso(at, -rules.repeat_seconds)
    if storage.lead_networks(db, lead_id, repeat_since, at) > 1:
        storage.flag_lead_hits(db, "scanner:multi_network", lead_id, repeat_since, at)
