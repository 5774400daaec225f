"""Links and the click: campaigns, links, their signed tokens, bot classification, visitor ids,
and the one operation that records a click or QR scan: tracking.py decides, on the values of
hit.py (Visitor, Hit); hit_log.py writes (spool.py when the database refuses); scanners.py
holds the email-scanner rules."""
