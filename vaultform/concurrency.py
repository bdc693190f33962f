"""How many changes an apply runs at once: as many as the server turns into
more throughput, fewer when it pushes back.

A raft-backed Vault commits concurrent writes in shared batches (one fsync
for many), so more writes in flight raise its throughput, up to a point the
machine decides (disk, cores, other load); past it they only queue. So the
limit is found while the apply runs, by hill climbing on the measured rate:

- start at START; after each window (at least MIN_WINDOW seconds and twice
  the limit in completions) grow by half while the rate rose by more than
  GAIN over the rate at the smaller limit, else go back to that limit and
  stay there HOLD windows before trying again;
- on pushback (an answer 429, 502, 503 or 504, counted by the connection:
  a rate-limit quota, a proxy with no answer, a node that is not ready),
  halve at once and hold;
- never below LEAST nor above MOST, the size of the connection pool, so
  every change in flight has its own keep-alive connection.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Dict, Iterable, List, TypeVar

T = TypeVar("T")
R = TypeVar("R")

START = 8
# Reads cost the server no commit: on one raft node the GET ceiling was best
# at 16 connections (bench/scale.py sweeps 8/16/32), writes' at 8 to 32.
READ_START = 16
LEAST = 1
MOST = 32
MIN_WINDOW = 0.5
GAIN = 1.05
HOLD = 6


class AdaptiveLimit:
    def __init__(self, start: int = START, least: int = LEAST, most: int = MOST,
                 clock: Callable[[], float] = time.monotonic):
        self.least, self.most, self.clock = least, most, clock
        self.limit = max(least, min(start, most))
        self.peak = self.limit
        self._rates: Dict[int, float] = {}   # limit -> rate measured at it (changes/s)
        self._hold = 0
        self._pushback_seen = 0
        self._grown_from = None   # the limit before the last increase, until judged
        self._started = clock()
        self._done = 0

    def _new_window(self) -> None:
        self._started, self._done = self.clock(), 0

    def finished(self, pushback: int = 0) -> None:
        """One change finished; `pushback` is the connection's running count
        of pushback answers."""
        if pushback > self._pushback_seen:
            self._pushback_seen = pushback
            self.limit = max(self.least, self.limit // 2)
            self._rates.clear()
            self._grown_from = None
            self._hold = HOLD
            self._new_window()
            return
        self._done += 1
        elapsed = self.clock() - self._started
        if self._done < 2 * self.limit or elapsed < MIN_WINDOW:
            return
        rate = self._done / elapsed
        self._rates[self.limit] = rate
        self._new_window()
        grown_from, self._grown_from = self._grown_from, None
        if self._hold:
            self._hold -= 1
            return
        if grown_from is not None and rate < self._rates.get(grown_from, 0.0) * GAIN:
            self.limit, self._hold = grown_from, HOLD  # more at once did not pay: back, for a while
            return
        if self.limit < self.most:
            self._grown_from = self.limit
            self.limit = min(self.most, self.limit + max(1, self.limit // 2))
            self.peak = max(self.peak, self.limit)


def adaptive_map(fn: Callable[[T], R], items: Iterable[T], pushback: Callable[[], int],
                 start: int = READ_START, most: int = MOST, name: str = "vaultform") -> List[R]:
    """fn over items, results in order, with as many calls in flight as an
    AdaptiveLimit finds pay (reads of a plan: across a WAN link, the more in
    flight the less the round trips cost; on a loaded server, fewer).
    `pushback` is the connection's running count of pushback answers. The
    first exception is raised once every started call has finished."""
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    limit = AdaptiveLimit(start=start, most=most)
    room = threading.Condition()
    in_flight = 0

    def done(_: Future) -> None:
        nonlocal in_flight
        with room:
            in_flight -= 1
            limit.finished(pushback())
            room.notify()

    futures: List[Future] = []
    with ThreadPoolExecutor(max_workers=most, thread_name_prefix=name) as pool:
        for item in items:
            with room:
                room.wait_for(lambda: in_flight < limit.limit)
                in_flight += 1
            future = pool.submit(fn, item)
            future.add_done_callback(done)
            futures.append(future)
    return [future.result() for future in futures]
