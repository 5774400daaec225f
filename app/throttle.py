"""Sign-in throttles: at most N failures per subject within a sliding number of minutes.

Failures are counted in one-minute buckets of the rate_limits table (the same table the
redemption guess limits use), and a check sums the buckets inside the window. A subject is
whatever is guessed from: a client address, an account's email.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sqlite_utils import Database

from . import clock, store
from .errors import RateLimited

WINDOW_SECONDS = 60
KEEP_MINUTES = 60  # the longest look-back of any throttle; older buckets are pruned


@dataclass(frozen=True)
class Throttle:
    """`attempts` failures per subject within `minutes`; the next try answers 429."""

    name: str
    attempts: int
    minutes: int
    what: str  # for the message and the security log, e.g. "wrong passwords"

    def _bucket(self, subject: str) -> str:
        return f"{self.name}:{subject}"

    def check(self, db: Database, subject: str) -> None:
        """Raise RateLimited while `subject` has used up its failures."""
        now = time.time()
        current = int(now // WINDOW_SECONDS)
        rows = store.failures_since(db, self._bucket(subject), current - self.minutes + 1)
        total = sum(count for _, count in rows)
        if total < self.attempts:
            return
        # Free again when enough of the oldest buckets have left the window.
        excess = total - self.attempts + 1
        freeing = rows[-1][0]
        for window, count in rows:
            excess -= count
            if excess <= 0:
                freeing = window
                break
        retry = max(1, math.ceil((freeing + self.minutes) * WINDOW_SECONDS - now))
        minutes = math.ceil(retry / 60)
        wait = f"{retry} s" if retry < 120 else f"{minutes} minutes"
        raise RateLimited(f"Too many {self.what}; try again in {wait}.", retry_after=retry)

    def fail(self, db: Database, subject: str) -> None:
        """Count a failure; the one that uses up the allowance goes to the security log."""
        current = int(time.time() // WINDOW_SECONDS)
        bucket = self._bucket(subject)
        store.count_failure(db, bucket, current)
        rows = store.failures_since(db, bucket, current - self.minutes + 1)
        if sum(count for _, count in rows) == self.attempts:
            store.log_security(
                db,
                clock.now_iso(),
                "lockout",
                bucket,
                f"{self.attempts} {self.what} within {self.minutes} minute(s)",
            )
        if current % 10 == 0:
            store.prune_rate_limits(db, current - KEEP_MINUTES)
