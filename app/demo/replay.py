"""Playing a season forward: the app's own functions, with its clock at each past moment.

Everything the domain modules write carries the time from app.core.clock and ids drawn from
uuid/secrets. While a Replay is open those are replaced, the way tests/conftest.py's
fake_clock does: the clock reads the moment being replayed and ids come from the seed, so a
seed gives the same database every time. Only a replay in a CLI process or a test does this;
a server never imports this module.

Hits (clicks and scans) are the bulk: each is decided by the redirect's own
app/clicks/tracking.py `decide`, so it is exactly the row a live request would have written;
plain hits are written in batches (storage.insert_hits), flushed before any other action so
that a conversion naming a click finds it, and a recipient's hit is saved at once with its
scanner rules (hit_log.save), as a live request would.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from app import storage
from app.clicks import hit_log, tracking
from app.clicks.hit import Hit, Visitor
from app.core import clock
from app.core.runtime import ScannerRules
from app.coupons import codes
from app.people import leads

FLUSH_AT = 5000


@dataclass(frozen=True)
class Request:
    """One request to /r/ (click) or /q/ (scan): what a live token and request would say."""

    kind: str
    link_id: int
    visitor: str | None  # None: the browser sent Sec-GPC: 1
    address: str
    agent: str | None
    referrer: str | None = None
    method: str = "GET"
    recipient_id: int | None = None


class Replay:
    """A queue of actions in time order, run with the app's clock set to each one's time."""

    def __init__(
        self, db: Database, seed: int, end: datetime, rules: ScannerRules, click_param: str
    ) -> None:
        self.db = db
        self.ids = random.Random(f"ids-{seed}")
        self.end_ms = clock.epoch_ms(end)
        self.now_ms = 0
        self.rules = rules
        self.click_param = click_param
        self._queue: list[tuple] = []
        self._order = itertools.count()
        self._hits: list[Hit] = []

    # Ids ---------------------------------------------------------------------------------

    def guid(self) -> str:
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    def event_id(self, at_ms: int) -> str:
        return clock.event_id(at_ms, self.ids.getrandbits(48))

    # The clock ---------------------------------------------------------------------------

    def set_time(self, at: datetime | int) -> None:
        self.now_ms = at if isinstance(at, int) else clock.epoch_ms(at)

    @property
    def now(self) -> datetime:
        return clock.from_epoch_ms(self.now_ms)

    @contextlib.contextmanager
    def patched(self) -> Iterator[Replay]:
        """The app's clock and id sources answer from this replay until the block ends."""
        replaced = {
            (clock, "now_iso"): lambda: clock.to_iso(self.now),
            (clock, "utcnow"): lambda: self.now,
            (clock, "new_event_id"): lambda: self.event_id(self.now_ms),
            (leads, "new_id"): self.guid,
            (codes, "generate"): functools.partial(codes.generate, randbits=self.ids.getrandbits),
        }
        saved = {key: getattr(*key) for key in replaced}
        try:
            for (module, name), value in replaced.items():
                setattr(module, name, value)
            yield self
        finally:
            for (module, name), value in saved.items():
                setattr(module, name, value)

    # The queue ---------------------------------------------------------------------------

    def at(self, at_ms: int, action: Callable, *args) -> bool:
        """Run `action(*args)` at that time; False (and nothing) when it is after the end."""
        if at_ms < self.now_ms:
            raise ValueError(f"{action.__name__} queued {self.now_ms - at_ms} ms in the past")
        if at_ms >= self.end_ms:
            return False
        heapq.heappush(self._queue, (at_ms, next(self._order), action, args))
        return True

    def hit(self, at_ms: int, request: Request) -> str | None:
        """Queue a hit; returns its click id (None when it falls after the end)."""
        click_id = self.event_id(at_ms)
        return click_id if self.at(at_ms, self._record_hit, request, click_id) else None

    def run(self) -> None:
        while self._queue:
            at_ms, _, action, args = heapq.heappop(self._queue)
            self.now_ms = at_ms
            if action != self._record_hit:  # bound methods are new objects: not `is`
                self.flush()
            action(*args)
        self.flush()

    def flush(self) -> None:
        if self._hits:
            storage.insert_hits(self.db, self._hits)
            self._hits = []

    def _record_hit(self, request: Request, click_id: str) -> None:
        """What the redirect records for this request at this time (app/clicks/tracking.py)."""
        visitor = Visitor.of(
            request.method, request.address, request.agent, request.referrer, request.visitor
        )
        decided = tracking.decide(
            self.db,
            visitor,
            request.kind,
            request.link_id,
            request.recipient_id,
            at=clock.to_iso(self.now),
            click_id=click_id,
            click_param=self.click_param,
        )
        if decided is None:
            raise ValueError(f"request on link {request.link_id}: no such link or recipient")
        _, hit = decided
        if hit.of_recipient:
            self.flush()  # its scanner rules read the hits before it
            hit_log.save(self.db, hit, self.rules)
            return
        self._hits.append(hit)
        if len(self._hits) >= FLUSH_AT:
            self.flush()
