"""Coupons and the till: offers, codes, claims, redemptions, locations (stores and booths) and
booth scans of badges at trade shows."""
