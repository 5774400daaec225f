"""Sign-in limits: progressive delays per account and address, and coarse per-address caps.

`Backoff` follows the OWASP Authentication Cheat Sheet: attempts are counted per key (an
account together with the client address, or an account on a known device), the first few are
free, and each further one must wait twice as long as the one before, up to a cap. Keying on
the account *and* the address is what keeps a lockout from being turned against its owner: a
guesser elsewhere only slows itself down. The count is taken before the credential is checked,
inside a write transaction, so concurrent tries cannot all slip through one free slot; a success
clears the key again.

`Throttle` is the older sliding-window cap (N failures per subject within M minutes, counted in
one-minute buckets of the rate_limits table that the code guess limits also use). It remains as
a generous per-address cap so that one address cannot spray many accounts.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from sqlite_utils import Database

from app import storage
from app.core import clock
from app.core import db as dbmod
from app.core.errors import RateLimited

WINDOW_SECONDS = 60
KEEP_MINUTES = 60  # the longest look-back of any Throttle; older buckets are pruned


def source(address: str | None) -> str:
    """Where tries come from, as throttles count it: an IPv4 address, or an IPv6 address's /64.

    One IPv6 host usually holds a whole /64 (2^64 addresses), so counting single IPv6
    addresses would give a guesser a fresh allowance with every address it picks.
    """
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _wait_text(retry: int) -> str:
    return f"{retry} s" if retry < 120 else f"{math.ceil(retry / 60)} minutes"


@dataclass(frozen=True)
class Backoff:
    """`free` attempts per key, then waits of `base_seconds` doubling per attempt up to
    `cap_seconds`; a key is forgotten `forget_seconds` after its last attempt."""

    name: str
    free: int
    base_seconds: float
    cap_seconds: float
    forget_seconds: float
    what: str  # for the message and the security log, e.g. "wrong passwords"

    def wait_after(self, attempts: int) -> float:
        """Seconds the next attempt waits after `attempts` unsuccessful ones."""
        if attempts < self.free:
            return 0.0
        return min(self.cap_seconds, self.base_seconds * 2 ** (attempts - self.free))

    def _key(self, subject: str) -> str:
        return f"{self.name}:{subject}"

    def _retry_after(self, db: Database, subject: str, now: float) -> int:
        row = storage.sign_in_delay(db, self._key(subject), now - self.forget_seconds)
        if row is None:
            return 0
        attempts, last = row
        ready = last + self.wait_after(attempts)
        return max(1, math.ceil(ready - now)) if now < ready else 0

    def attempt(self, db: Database, subject: str) -> None:
        """Count an attempt for `subject`, or raise RateLimited while it must wait."""
        attempt(db, [(self, subject)])

    def sources(self, db: Database, prefix: str) -> int:
        """How many subjects starting with `prefix` (an account's `EMAIL|`) remember tries."""
        return storage.count_sign_in_delays(
            db, self._key(prefix), time.time() - self.forget_seconds
        )

    def succeeded(self, db: Database, subject: str) -> None:
        """The right credential: the key starts afresh."""
        storage.clear_sign_in_delay(db, self._key(subject))

    def failed(self, db: Database, subject: str) -> None:
        """A wrong credential (already counted by `attempt`): the one that starts the delays
        goes to the security log."""
        key = self._key(subject)
        now = time.time()
        row = storage.sign_in_delay(db, key, now - self.forget_seconds)
        if row is not None and row[0] == max(self.free, 1):
            storage.log_security(
                db,
                clock.now_iso(),
                "lockout",
                key,
                f"{max(self.free, 1)} {self.what}; each further try waits longer "
                f"(from {self.base_seconds:g} s up to {self.cap_seconds:g} s)",
            )
        if int(now) % 10 == 0:
            storage.prune_sign_in_delays(db, now - self.forget_seconds)


def attempt(db: Database, held: list[tuple[Backoff, str]]) -> None:
    """Count one attempt under every (delays, subject) pair, or none while any must wait.

    All in one write transaction, so concurrent tries cannot share a free slot and a refused
    try leaves no count behind on the other keys."""
    now = time.time()
    with dbmod.immediate(db):
        waits = [(delays, delays._retry_after(db, subject, now)) for delays, subject in held]
        delays, retry = max(waits, key=lambda pair: pair[1], default=(None, 0))
        if delays is not None and retry > 0:
            raise RateLimited(
                f"Too many {delays.what}; try again in {_wait_text(retry)}.", retry_after=retry
            )
        for delays, subject in held:
            storage.count_sign_in_attempt(db, delays._key(subject), now)


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
        rows = storage.failures_since(db, self._bucket(subject), current - self.minutes + 1)
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
        raise RateLimited(
            f"Too many {self.what}; try again in {_wait_text(retry)}.", retry_after=retry
        )

    def fail(self, db: Database, subject: str) -> None:
        """Count a failure; the one that uses up the allowance goes to the security log."""
        current = int(time.time() // WINDOW_SECONDS)
        bucket = self._bucket(subject)
        storage.count_failure(db, bucket, current)
        rows = storage.failures_since(db, bucket, current - self.minutes + 1)
        if sum(count for _, count in rows) == self.attempts:
            storage.log_security(
                db,
                clock.now_iso(),
                "lockout",
                bucket,
                f"{self.attempts} {self.what} within {self.minutes} minute(s)",
            )
        if current % 10 == 0:
            storage.prune_rate_limits(db, current - KEEP_MINUTES)
