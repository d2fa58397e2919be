"""Runs the template's scheduled functions (EventBridge ``Schedule`` events) inside `skms serve`.

Each runs once at start and then every ``min(its rate, KMS_SCHEDULE_INTERVAL_SECONDS)`` seconds,
with an EventBridge-shaped event, in a daemon thread that stops with the server.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skms.observability import logger
from skms.sam_template import load_handler, scheduled_functions


class Scheduler:
    def __init__(self, template_path: Path, max_interval_seconds: float) -> None:
        self._jobs: list[tuple[str, Callable[[Any, Any], Any], float]] = [
            (ref.logical_id, load_handler(ref), min(rate, max_interval_seconds))
            for ref, rate in scheduled_functions(template_path)
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def jobs(self) -> list[str]:
        return [name for name, _, _ in self._jobs]

    def start(self) -> None:
        for name, handler, interval in self._jobs:
            thread = threading.Thread(
                target=self._loop, args=(name, handler, interval), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, name: str, handler: Callable[[Any, Any], Any], interval: float) -> None:
        while not self._stop.is_set():
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "resources": [f"arn:aws:events:local:000000000000:rule/{name}"],
                "detail": {},
            }
            try:
                handler(event, None)
            except Exception:
                logger.exception("scheduled function failed", extra={"function": name})
            self._stop.wait(interval)
