"""Links and the click: campaigns, links, their signed tokens, bot classification, visitor ids,
and the one operation that records a click or QR scan (tracking.py)."""
