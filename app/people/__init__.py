"""People and what they do after a click: leads, per-recipient links, conversions."""
