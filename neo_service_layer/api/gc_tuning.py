"""The cyclic garbage collector, tuned for a long-running API process.

An API process holds some 225,000 objects once started (FastAPI, SQLAlchemy, pydantic, the chains'
libraries, the routes) that live as long as it does, and under load Python's collector kept walking
all of them: requests in flight survive the young collections, reach the oldest generation and
trigger a full collection more than once a second, each ~120 ms on this machine with nothing to free
(measured: ~15 % of a busy worker's time, every in-flight request stalled for it, p99 at 64 connections
130 ms; docs/performance.md, "Ninth round"). So, once the app has started:

- ``gc.freeze()`` moves everything alive into the permanent generation, which collections skip (what
  Instagram does before forking its workers); full collections then walk only what came later.
- The youngest generation is collected after ``YOUNG_THRESHOLD`` net allocations instead of 2,000:
  more than the objects of every request in flight, so a request's objects are mostly freed by
  reference counting before a collection would see them and promote them.

Reference counting still frees everything that is not in a cycle at once; cycles are still collected,
a little later. On shutdown the previous thresholds are restored and the frozen objects are given back
to the collector (a test process starts and stops many apps).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Objects (net allocations of tracked containers) before a young collection. Measured on one worker at
# 16 and at 64 connections: with 20,000 no collection at all ran in ten seconds; with the default 2,000
# (and the freeze) the young and middle generations took ~10 µs of every request.
YOUNG_THRESHOLD = 20_000


@contextmanager
def tuned_for_serving() -> Iterator[None]:
    """Freeze what exists now and raise the young generation's threshold until the block ends."""
    previous = gc.get_threshold()
    # No gc.collect() first: it would cost ~60-100 ms per start, and start-up leaves little cyclic
    # garbage; what it leaves stays frozen (a one-time cost, not a leak that grows).
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
