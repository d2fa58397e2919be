"""Structured JSON logging without secrets (Powertools Logger).

Log lines carry operation, project, key id, request id and outcome. Never log events, bodies,
plaintext, key material, data keys, ciphertexts or credentials: callers pass only those fields.

Every request writes one or two lines (the authorizer's and the function's), so formatting is on
the hot path: Powertools' formatter costs about 80 µs a line, mostly in generic work (copying the
record, %-formatting each key, parsing the message as JSON, formatting the time). For the lines
this code writes (a plain message, extra keys, no exception, no appended keys)
:class:`LeanFormatter` builds the very same JSON document directly, several times faster; any
other record goes to Powertools' own ``format``. The per-request line (:func:`log_request`) goes
further: its fixed parts are text built once, only the time and the request's own keys are written
per line. tests/unit/test_observability.py checks that all give the same document.
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
from types import CodeType, FrameType
from typing import Any, NamedTuple

import pydantic_core
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
_TRACE_ID_ENV = "_X_AMZN_TRACE_ID"
# The X-Ray trace id comes from the environment, where Lambda's runtime sets it per invocation.
# Elsewhere (skms serve) it is there from start-up or not at all: the request line does not look
# it up (an environment lookup per line) where it cannot be.
_TRACE_ID_POSSIBLE = "AWS_LAMBDA_FUNCTION_NAME" in os.environ or _TRACE_ID_ENV in os.environ
_MILLIS = tuple(f"{ms:03d}" for ms in range(1000))


class _RequestLine(NamedTuple):
    """What a request line holds whatever the request: built when the formatter's configuration is
    (its construction options, then each change of its keys: :meth:`LeanFormatter._refresh`), used
    by :func:`log_request`."""

    constant: str  # ',"service":"skms"': the constant keys' JSON members, None-valued ones left out
    # Extra keys the line cannot simply append: they name a key it already has, or one that
    # logging reserves (LogRecord attributes).
    keys: frozenset[str]


class LeanFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON document, built directly for the common record (see the module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        # Set before Powertools' __init__, in case it changes keys (which calls _refresh).
        self._default_serializer: Any = None
        self._encoder: json.JSONEncoder | None = None
        # (second, its text before the milliseconds, after them): one attribute, replaced whole, so
        # that two threads never mix the parts of two seconds.
        self._second: tuple[int, str, str] = (-1, "", "")
        super().__init__(**kwargs)
        # Powertools' default serializer is functools.partial(json.dumps, <options>), which builds a
        # JSONEncoder from those options on every call: the same encoder, built once, writes the same
        # text. Any other serializer (given, or set later) is called as it is.
        serializer = self.json_serializer
        if (
            isinstance(serializer, functools.partial)
            and serializer.func is json.dumps
            and not serializer.args
        ):
            self._default_serializer = serializer
            self._encoder = json.JSONEncoder(**serializer.keywords)
        self._refresh()

    def serialize(self, log: Any) -> str:
        if self._encoder is not None and self.json_serializer is self._default_serializer:
            return self._encoder.encode(log)
        return super().serialize(log)

    def _refresh(self) -> None:
        """Recompute the constant keys; None when log_format is not the plain default shape. And the
        request line's fixed text: None where :func:`log_request` cannot write it as text (another
        time format, another serializer, indented JSON, a constant X-Ray key)."""
        constant = {key: value for key, value in self.log_format.items() if key not in _DEFAULT_FORMAT}
        plain = all(self.log_format.get(key) == value for key, value in _DEFAULT_FORMAT.items()) and not any(
            isinstance(value, str) and "%(" in value for value in constant.values()
        )
        self._constant: dict[str, Any] | None = constant if plain else None
        encoder = self._encoder
        self._request_line: _RequestLine | None = None
        if (
            plain
            and encoder is not None
            and encoder.indent is None
            and encoder.item_separator == ","
            and encoder.key_separator == ":"
            and not encoder.ensure_ascii
            and not self.use_rfc3339_iso8601
            and not self.datefmt
            and "xray_trace_id" not in constant
        ):
            written = {key: value for key, value in constant.items() if value is not None}
            members = encoder.encode(written)[1:-1]  # the object's members, without its braces
            self._request_line = _RequestLine(
                constant="," + members if members else "",
                keys=_RESERVED | _DEFAULT_FORMAT.keys() | constant.keys() | {"xray_trace_id"},
            )

    def append_keys(self, **additional_keys: Any) -> None:
        super().append_keys(**additional_keys)
        self._refresh()

    def remove_keys(self, keys: Iterable[str]) -> None:
        super().remove_keys(keys)
        self._refresh()

    def clear_state(self) -> None:
        super().clear_state()
        self._refresh()

    def _second_parts(self, second: int) -> tuple[str, str]:
        """``formatTime``'s text for ``second``, around its milliseconds: ("2026-11-25 21:14:12,",
        "+0000"), cached for the second."""
        cached = self._second
        if cached[0] != second:
            head, tail = time.strftime("%Y-%m-%d %H:%M:%S,{}%z", self.converter(second)).split("{}")
            cached = self._second = (second, head, tail)
        return cached[1], cached[2]

    def timestamp_at(self, created: float) -> str:
        """``formatTime``'s text ("2026-11-25 21:14:12,613+0000") for a record created at
        ``created``, its seconds part cached."""
        second = int(created)
        head, tail = self._second_parts(second)
        return f"{head}{_MILLIS[int((created - second) * 1000)]}{tail}"

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


# A request line's text up to its timestamp, per place that writes it: (id of the code, offset of
# the call in it) -> (the code, kept so that its id is not reused, the text). The offset stands for
# the line, which the frame would work out from the code's line table on every call.
_LINE_HEADS: dict[tuple[int, int], tuple[CodeType, str]] = {}


def _line_head(caller: FrameType) -> str:
    """A request line's text up to its timestamp, for the place in ``caller`` that writes it."""
    code = caller.f_code
    entry = _LINE_HEADS.get((id(code), caller.f_lasti))
    if entry is None or entry[0] is not code:
        if len(_LINE_HEADS) > 256:  # a few call sites in practice: bounded all the same
            _LINE_HEADS.clear()
        location = json.dumps(f"{code.co_name}:{caller.f_lineno}", ensure_ascii=False)
        head = f'{{"level":"INFO","location":{location},"message":"request","timestamp":"'
        entry = _LINE_HEADS[id(code), caller.f_lasti] = (code, head)
    return entry[1]


def _plain_json(extra: dict[str, Any], *, vouched: bool = False) -> str | None:
    """``extra``'s JSON object, its None values left out, as the formatter's json.dumps writes it;
    None when it holds anything but text keys and text, integer, boolean or plain float values.
    For those, pydantic_core writes the same text (tests/unit/test_observability.py) about three
    times faster than the json module. ``vouched``: the caller's code fixes those kinds (see
    :func:`log_request`), which then go unchecked."""
    if vouched:
        has_none = None in extra.values()  # values of plain kinds: equality is identity for None
    else:
        has_none = False
        for key, value in extra.items():
            kind = type(value)
            if type(key) is not str:
                return None
            if kind is str or kind is int or kind is bool:
                continue
            if value is None:
                has_none = True
            # Python and pydantic_core write the same digits, but not always the same exponent
            # form: plain floats only (as duration_ms always is).
            elif kind is not float or not (value == 0.0 or 1e-4 <= abs(value) < 1e16):
                return None
    if has_none:
        extra = {key: value for key, value in extra.items() if value is not None}
    try:
        return pydantic_core.to_json(extra).decode()
    except pydantic_core.PydanticSerializationError:  # e.g. a lone surrogate: the json module writes it
        return None


def log_request(extra: dict[str, Any], *, plain_values: bool = False) -> None:
    """Write the per-request line: the document ``logger.info("request", extra=extra)`` writes,
    straight to the logger's stream. Every request writes it, so it skips what the generic path
    costs (a LogRecord, the caller's frame walk, the handler chain, the document's fixed parts)
    where the line goes to our one stream handler alone, as under ``skms serve``; anything else
    (handlers above it, as in Lambda, where the runtime's root handler is there; other handlers;
    another formatter; thread-local keys; filters; a handler level) takes the generic path.

    ``plain_values``: the caller vouches that ``extra`` has text keys and text, integer, boolean,
    None or plain float (zero, or 1e-4 to 1e16) values only, kinds its code fixes (the handler's
    line: ids, codes, the status, duration_ms); they then go unchecked, where checking each value
    of each request costs a sixth of the line."""
    std = _STD_LOGGER
    if not std.isEnabledFor(logging.INFO):
        return
    handlers = std.handlers  # where logger.info's record goes (Powertools' handler among them)
    handler = handlers[0] if len(handlers) == 1 else None
    formatter = handler.formatter if handler is not None else None
    if (
        type(handler) is not logging.StreamHandler
        or type(formatter) is not LeanFormatter
        or formatter._request_line is None
        or handler.filters
        or handler.level > logging.INFO
        or std.filters
        or (std.propagate and logging.root.handlers)  # e.g. Lambda's runtime handler, pytest's caplog
        or formatter.thread_safe_get_current_keys()
    ):
        logger.info("request", extra=extra, stacklevel=3)
        return
    line = formatter._request_line
    appended = line.keys.isdisjoint(extra)  # the common case: the request's keys follow the line's
    if not appended and not _RESERVED.isdisjoint(extra):  # logging's own names: what logger.info does
        logger.info("request", extra=extra, stacklevel=3)
        return
    caller = sys._getframe(1)
    now = time.time()
    trace_id = formatter._get_latest_trace_id() if _TRACE_ID_POSSIBLE else None
    members = _plain_json(extra, vouched=plain_values) if appended else None
    if members is not None:
        # The line as text: its fixed head, the time, the constant keys, the request's keys, X-Ray's.
        second = int(now)
        cached = formatter._second
        head, tail = cached[1:] if cached[0] == second else formatter._second_parts(second)
        millis = _MILLIS[int((now - second) * 1000)]
        request = members[1:-1]
        trace = "" if trace_id is None else ',"xray_trace_id":' + formatter.serialize(trace_id)
        text = (
            f'{_line_head(caller)}{head}{millis}{tail}"'
            f"{line.constant}{',' if request else ''}{request}{trace}}}"
        )
    else:
        # Keys that replace the fixed ones, or values the json module alone writes: the document.
        document: dict[str, Any] = {
            "level": "INFO",
            "location": f"{caller.f_code.co_name}:{caller.f_lineno}",
            "message": "request",
            "timestamp": formatter.timestamp_at(now),
            **formatter._constant,  # type: ignore[dict-item]  # not None when _request_line is not
            **extra,
            "xray_trace_id": trace_id,
        }
        text = formatter.serialize({key: value for key, value in document.items() if value is not None})
    with handler.lock or contextlib.nullcontext():
        stream = handler.stream
        stream.write(text + handler.terminator)
        if hasattr(stream, "flush"):
            stream.flush()
