"""Edges of the functions that run on a schedule rather than behind the API."""

from __future__ import annotations

from typing import Any

from skms.logic.auto_rotation import rotate_due_keys
from skms.logic.sweep import sweep
from skms.observability import logger
from skms.runtime import get_services


def delete_expired_keys_handler(event: Any = None, context: Any = None) -> dict[str, int]:
    """EventBridge schedule (and `skms serve`'s timer): tombstone keys whose deletion date passed,
    erase imported material that expired."""
    result = sweep(get_services())
    counts = {"deleted": result.deleted, "skipped": result.skipped, "expired": result.expired}
    logger.info("sweep", extra={"operation": "delete-expired-keys", **counts})
    return counts


def rotate_due_keys_handler(event: Any = None, context: Any = None) -> dict[str, int]:
    """EventBridge schedule (and `skms serve`'s timer): rotate keys whose rotation period passed."""
    result = rotate_due_keys(get_services())
    logger.info(
        "rotation",
        extra={"operation": "rotate-due-keys", "rotated": result.rotated, "skipped": result.skipped},
    )
    return {"rotated": result.rotated, "skipped": result.skipped}
