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

import contextlib
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
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
        self._refresh()
        # Powertools' default serializer is functools.partial(json.dumps, <options>), which builds a
        # JSONEncoder from those options on every call: the same encoder, built once, writes the same
        # text. Any other serializer (given, or set later) is called as it is.
        serializer = self.json_serializer
        self._default_serializer: Any = None
        self._encoder: json.JSONEncoder | None = None
        if (
            isinstance(serializer, functools.partial)
            and serializer.func is json.dumps
            and not serializer.args
        ):
            self._default_serializer = serializer
            self._encoder = json.JSONEncoder(**serializer.keywords)

    def serialize(self, log: Any) -> str:
        if self._encoder is not None and self.json_serializer is self._default_serializer:
            return self._encoder.encode(log)
        return super().serialize(log)

    def _refresh(self) -> None:
        """Recompute the constant keys; None when log_format is not the plain default shape."""
        constant = {key: value for key, value in self.log_format.items() if key not in _DEFAULT_FORMAT}
        plain = all(self.log_format.get(key) == value for key, value in _DEFAULT_FORMAT.items()) and not any(
            isinstance(value, str) and "%(" in value for value in constant.values()
        )
        self._constant: dict[str, Any] | None = constant if plain else None

    def append_keys(self, **additional_keys: Any) -> None:
        super().append_keys(**additional_keys)
        self._refresh()

    def remove_keys(self, keys: Iterable[str]) -> None:
        super().remove_keys(keys)
        self._refresh()

    def clear_state(self) -> None:
        super().clear_state()
        self._refresh()

    def timestamp_at(self, created: float) -> str:
        """``formatTime``'s text ("2026-11-25 21:14:12,613+0000") for a record created at
        ``created``, its seconds part cached."""
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S,{}%z", self.converter(created))
            self._second = second
        return self._second_text.format(f"{int((created - second) * 1000):03d}")

    def format(self, record: logging.LogRecord) -> str:
        if (
            self._constant is None
            or self.use_rfc3339_iso8601
            or self.datefmt
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
            "timestamp": self.timestamp_at(record.created),
            **self._constant,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED:
                document[key] = value
        document["xray_trace_id"] = self._get_latest_trace_id()
        return self.serialize({key: value for key, value in document.items() if value is not None})


logger = Logger(service="skms", log_uncaught_exceptions=False, logger_formatter=LeanFormatter())
_STD_LOGGER = logging.getLogger(logger.name)  # the stdlib logger behind Powertools' one
_TRACE_ID_ENV = "_X_AMZN_TRACE_ID"


def log_request(extra: dict[str, Any]) -> None:
    """Write the per-request line: the document ``logger.info("request", extra=extra)`` writes,
    straight to the logger's stream. Every request writes it, so it skips what the generic path
    costs (a LogRecord, the caller's frame walk, the handler chain) where the line goes to our one
    stream handler alone, as under ``skms serve``; anything else (handlers above it, as in Lambda,
    where the runtime's root handler is there; another formatter; thread-local keys; filters)
    takes the generic path."""
    formatter = logger.registered_formatter
    handler = logger.registered_handler
    std = _STD_LOGGER
    if not std.isEnabledFor(logging.INFO):
        return
    if (
        type(formatter) is not LeanFormatter
        or formatter._constant is None
        or formatter.use_rfc3339_iso8601
        or formatter.datefmt
        or formatter.thread_safe_get_current_keys()
        or type(handler) is not logging.StreamHandler
        or handler.filters
        or std.filters
        or (std.propagate and logging.root.handlers)  # e.g. Lambda's runtime handler, pytest's caplog
        or not _RESERVED.isdisjoint(extra)
    ):
        logger.info("request", extra=extra, stacklevel=3)
        return
    caller = sys._getframe(1)
    now = time.time()
    document: dict[str, Any] = {
        "level": "INFO",
        "location": f"{caller.f_code.co_name}:{caller.f_lineno}",
        "message": "request",
        "timestamp": formatter.timestamp_at(now),
        **formatter._constant,
        **extra,
        "xray_trace_id": formatter._get_latest_trace_id() if os.environ.get(_TRACE_ID_ENV) else None,
    }
    text = formatter.serialize({key: value for key, value in document.items() if value is not None})
    with handler.lock or contextlib.nullcontext():
        handler.stream.write(text + handler.terminator)
        handler.flush()
