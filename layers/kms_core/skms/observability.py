"""Structured JSON logging without secrets (Powertools Logger).

Log lines carry operation, project, key id, request id and outcome. Never log events, bodies,
plaintext, key material, data keys, ciphertexts or credentials: callers pass only those fields.

Every request writes one or two lines (the authorizer's and the function's), so formatting is on
the hot path: Powertools' formatter costs about 80 µs a line, mostly in generic work (copying the
record, %-formatting each key, parsing the message as JSON, formatting the time). For the lines
this code writes (a plain message, extra keys, no exception, no appended keys)
:class:`LeanFormatter` builds the very same JSON document directly, several times faster; any
other record goes to Powertools' own ``format``. tests/unit/test_observability.py checks that both
give the same document.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import RESERVED_LOG_ATTRS, LambdaPowertoolsFormatter

# What Powertools' default log_format holds, in its order; "service" is the one constant key.
_DEFAULT_FORMAT = {
    "level": "%(levelname)s",
    "location": "%(funcName)s:%(lineno)d",
    "message": None,
    "timestamp": "%(asctime)s",
}
_RESERVED = frozenset(RESERVED_LOG_ATTRS)


class LeanFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON document, built directly for the common record (see the module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._second = -1
        self._second_text = ""
        constant = {key: value for key, value in self.log_format.items() if key not in _DEFAULT_FORMAT}
        plain = all(self.log_format.get(key) == value for key, value in _DEFAULT_FORMAT.items()) and not any(
            isinstance(value, str) and "%(" in value for value in constant.values()
        )
        self._constant: dict[str, Any] | None = constant if plain else None

    def _timestamp(self, record: logging.LogRecord) -> str:
        """``formatTime``'s text ("2026-11-25 21:14:12,613+0000"), its seconds part cached."""
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S,{}%z", self.converter(record.created))
            self._second = second
        return self._second_text.format(f"{int(record.msecs):03d}")

    def format(self, record: logging.LogRecord) -> str:
        if (
            self._constant is None
            or self.use_rfc3339_iso8601
            or self.datefmt
            or self.serialize_stacktrace
            and record.exc_info
            or record.exc_info
            or record.exc_text
            or record.stack_info
            or record.args
            or type(record.msg) is not str
            or record.msg.startswith(("{", "["))  # Powertools would try to parse it as JSON
            or self.thread_safe_get_current_keys()
        ):
            return super().format(record)
        document: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.msg,
            "timestamp": self._timestamp(record),
            **self._constant,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED:
                document[key] = value
        document["xray_trace_id"] = self._get_latest_trace_id()
        return self.serialize({key: value for key, value in document.items() if value is not None})


logger = Logger(service="skms", log_uncaught_exceptions=False, logger_formatter=LeanFormatter())
