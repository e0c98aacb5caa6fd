"""Rate limits kept in the API process: a sliding window of recent events per key."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    def __init__(
        self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self.events: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None when it may now."""
        now = self.clock()
        recent = self.events.get(key)
        if recent is None:
            return None
        while recent and recent[0] <= now - self.seconds:
            recent.popleft()
        if not recent:
            del self.events[key]
            return None
        if len(recent) < self.limit:
            return None
        return max(1, math.ceil(recent[0] + self.seconds - now))

    def hit(self, key: str) -> None:
        if len(self.events) > 100_000:  # forget idle keys rather than grow without bound
            for stale in [k for k, v in self.events.items() if not v][:50_000]:
                del self.events[stale]
        self.events.setdefault(key, deque()).append(self.clock())
