"""Working through the keys an index says are due (scheduled deletion, automatic rotation)."""

from __future__ import annotations

from collections.abc import Callable

from skms.domain import KeyRecord
from skms.observability import logger

BATCH = 100


def process_due(
    read: Callable[[int], list[KeyRecord]],
    act: Callable[[KeyRecord], bool],
    *,
    operation: str,
    outcome: str,
    limit: int,
) -> tuple[int, int]:
    """Call ``act`` on each due key (``read(n)``: at most n of them, an index query) until none is
    left or ``limit`` were seen; each key once per run, even if an index read that lags the writes
    returns it again. Returns (acted, skipped); each key acted on is logged as ``outcome``."""
    acted = skipped = 0
    seen: set[tuple[str, str]] = set()
    while acted + skipped < limit:
        due = read(min(BATCH, limit - acted - skipped))
        fresh = [record for record in due if (record.project_id, record.key_id) not in seen]
        if not fresh:
            break
        for record in fresh:
            seen.add((record.project_id, record.key_id))
            if act(record):
                acted += 1
                logger.info(
                    f"key {outcome}",
                    extra={
                        "operation": operation,
                        "project_id": record.project_id,
                        "key_id": record.key_id,
                        "outcome": outcome,
                    },
                )
            else:
                skipped += 1
        if len(due) < BATCH:
            break
    return acted, skipped
