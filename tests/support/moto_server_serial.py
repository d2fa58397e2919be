"""``moto_server`` with its DynamoDB requests run one at a time (the e2e suite's AWS backend).

moto's DynamoDB backend is not thread-safe: ``transact_write_items`` deep-copies the tables while
the server's other threads write to them, and under load that copy fails now and then with
``RuntimeError: dictionary changed size during iteration``, answered as HTTP 500 (seen in the
crash-safety test, several clients writing at once). Real DynamoDB has no such failure, so the
suite serialises moto's DynamoDB handler; KMS requests still run concurrently. Used only by
tests/support/aws_backend.py.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_LOCK = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised(self: DynamoHandler, *args: Any, **kwargs: Any) -> Any:
    with _LOCK:
        return _call_action(self, *args, **kwargs)


DynamoHandler.call_action = _serialised  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    main()
