"""The lean log formatter writes exactly the document Powertools' formatter writes."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from skms.observability import LeanFormatter, logger


def _record(msg: Any = "request", *, extra: dict[str, Any] | None = None, **kwargs: Any) -> logging.LogRecord:
    record = logging.getLogger("skms-test").makeRecord(
        "skms-test",
        kwargs.pop("level", logging.INFO),
        "/path/to/handler.py",
        188,
        msg,
        kwargs.pop("args", None),
        kwargs.pop("exc_info", None),
        func="run",
        extra=extra,
    )
    record.created, record.msecs = 1_795_641_199.397, 397.0
    return record


EXTRA = {
    "operation": "create-datakey",
    "project_id": "p" * 32,
    "key_id": "5c1b4b38-9a0e-4c56-9d3b-8f6a2e1d0c7b",
    "status": 200,
    "duration_ms": 1.25,
    "outcome": "ok",
    "nothing": None,
    "nested": {"a": [1, 2]},
    "odd": b"\x00bytes",  # not JSON: both fall back to str()
}


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(_record(extra=EXTRA), id="request line"),
        pytest.param(_record("unauthorized", level=logging.WARNING, extra={"reason": "x"}), id="warning"),
        pytest.param(_record("no extras"), id="plain"),
        pytest.param(_record("with %s", args=("args",)), id="args (fallback)"),
        pytest.param(_record('{"json": "message"}'), id="json message (fallback)"),
        pytest.param(_record({"dict": "message"}), id="dict message (fallback)"),
    ],
)
@pytest.mark.parametrize("utc", [False, True])
def test_the_lean_formatter_writes_what_powertools_writes(record: logging.LogRecord, utc: bool) -> None:
    # Given the same record / When both formatters format it / Then the JSON documents are equal
    lean = LeanFormatter(service="skms", utc=utc).format(record)
    reference = LambdaPowertoolsFormatter(service="skms", utc=utc).format(record)
    assert json.loads(lean) == json.loads(reference)
    assert list(json.loads(lean)) == list(json.loads(reference))  # and in the same key order


def test_exceptions_are_formatted_by_powertools() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("unhandled error", level=logging.ERROR, exc_info=sys.exc_info())
    lean = json.loads(LeanFormatter(service="skms").format(record))
    assert lean == json.loads(LambdaPowertoolsFormatter(service="skms").format(record))
    assert lean["exception_name"] == "ValueError"


def test_a_trace_id_in_the_environment_is_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=5;Sampled=1")
    document = json.loads(LeanFormatter(service="skms").format(_record(extra=EXTRA)))
    assert document["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"


def test_the_service_logger_uses_the_lean_formatter() -> None:
    assert isinstance(logger.registered_formatter, LeanFormatter)


def test_log_request_writes_what_logger_info_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from skms.observability import log_request

    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    extra = {key: value for key, value in EXTRA.items() if key != "odd"}

    # When the same request line is written both ways, from the same function
    def request_line() -> None:
        log_request(extra)
        logger.info("request", extra=extra)

    request_line()
    fast, generic = (json.loads(line) for line in stream.getvalue().splitlines())
    # Then the documents are equal but for the time and the line number, in the same key order
    for document in (fast, generic):
        document.pop("timestamp")
        assert document.pop("location").startswith("request_line:")
    assert fast == generic
    assert list(fast) == list(generic)


def test_log_request_is_silent_when_info_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from skms.observability import log_request

    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    previous = logger.log_level
    logger.setLevel("WARNING")
    try:
        log_request({"operation": "x"})
    finally:
        logger.setLevel(previous)
    assert stream.getvalue() == ""


def test_appended_keys_are_written_by_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from skms.observability import log_request

    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    logger.append_keys(tenant="t-1")
    try:
        log_request({"operation": "x"})
    finally:
        logger.remove_keys(["tenant"])
    document = json.loads(stream.getvalue())
    assert (document["tenant"], document["operation"], document["message"]) == ("t-1", "x", "request")
    assert document["location"].startswith("test_appended_keys_are_written_by_both_paths:")
    stream.truncate(0)
    stream.seek(0)
    logger.info("plain")  # once removed, the key is gone again
    assert "tenant" not in json.loads(stream.getvalue())


def test_log_request_reaches_handlers_above_the_logger(caplog: pytest.LogCaptureFixture) -> None:
    from skms.observability import log_request

    # Given a handler on the root logger (Lambda's runtime has one; so does caplog)
    with caplog.at_level(logging.INFO):
        # When the request line is written, Then the record reaches it too
        log_request({"operation": "seen-above"})
    assert [record.operation for record in caplog.records] == ["seen-above"]  # type: ignore[attr-defined]


def _lines_both_ways(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], *, plain_values: bool = False
) -> tuple[str, str]:
    """The request line log_request writes and the one logger.info writes, as text."""
    import io

    from skms.observability import log_request

    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)

    def request_line() -> None:
        log_request(extra, plain_values=plain_values)
        logger.info("request", extra=extra)

    request_line()
    fast, generic, after = stream.getvalue().split("\n")  # not splitlines(): U+2028 is not escaped
    assert after == ""
    return fast, generic


def _without_time(line: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(line)
    document.pop("timestamp")
    assert document.pop("location").startswith("request_line:")
    return document


ODD_TEXT = '"\\/' + "".join(chr(c) for c in range(0x20)) + "\x7f\u2028 é 中文 \U0001f600"


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(
            {"operation": "x", "text": ODD_TEXT, "big": 2**70, "yes": True, "ms": 0.001}, id="plain"
        ),
        pytest.param({"operation": "x", "skipped": None, "status": 200}, id="a None value"),
        pytest.param({"operation": "x", "ms": 1e-05, "huge": 1e16, "nan": float("nan")}, id="floats"),
        pytest.param({"operation": "x", "odd": b"\x00bytes", "list": [1, "a"]}, id="not plain"),
        pytest.param({"operation": "x", "lone": "\ud800"}, id="a lone surrogate"),
        pytest.param(
            {"service": "other", "sampling_rate": 0.5, "operation": "x"}, id="a constant key replaced"
        ),
        pytest.param({"xray_trace_id": "t", "operation": "x"}, id="the trace key given"),
        pytest.param({}, id="no keys"),
    ],
)
def test_the_request_line_is_the_generic_lines_document(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]
) -> None:
    # When the same request line is written both ways
    fast, generic = _lines_both_ways(monkeypatch, extra)
    # Then the texts are equal but for the time and the line number
    assert _text_without_time(fast) == _text_without_time(generic)
    assert list(json.loads(fast)) == list(json.loads(generic))


def _text_without_time(line: str) -> str:
    line = re.sub(r'"timestamp":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}[+-]\d{4}"', '"timestamp":""', line)
    return re.sub(r'"location":"request_line:\d+"', '"location":""', line)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(
            {
                "operation": "create-datakey",
                "request_id": "rid",
                "project_id": "p" * 32,
                "principal_id": "a" * 32,
                "auth_method": "aksk",
                "key_id": "5c1b4b38-9a0e-4c56-9d3b-8f6a2e1d0c7b",
                "status": 200,
                "outcome": "ok",
                "duration_ms": 0.412,
            },
            id="the handler's line",
        ),
        pytest.param(
            {"operation": "x", "reason": ODD_TEXT, "status": 401, "skipped": None, "ms": 0.0}, id="odd"
        ),
        pytest.param({"operation": "x", "request_id": "\ud800"}, id="a lone surrogate"),
    ],
)
def test_vouched_plain_values_make_the_same_line(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]
) -> None:
    # When a caller vouches for its values' kinds, Then the line is still the generic line's text
    fast, generic = _lines_both_ways(monkeypatch, extra, plain_values=True)
    assert _text_without_time(fast) == _text_without_time(generic)


def test_plain_keys_are_written_as_the_json_module_writes_them() -> None:
    from skms.observability import _plain_json

    # Every character but the lone surrogates, and the numbers the request line holds
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    values: dict[str, Any] = {"text": text, "n": -(2**80), "t": True, "f": False, "zero": 0.0, "none": None}
    values |= {f"ms{i}": round(0.001 * 7**i, 3) for i in range(12)}
    expected = json.dumps(
        {k: v for k, v in values.items() if v is not None}, ensure_ascii=False, separators=(",", ":")
    )
    assert _plain_json(values) == expected
    # and anything else is left to the json module
    assert _plain_json({"f": 1e-05}) is None
    assert _plain_json({"b": b"x"}) is None
    assert _plain_json({1: "x"}) is None  # type: ignore[dict-item]
    assert _plain_json({"s": "\ud800"}) is None


def test_the_trace_id_is_on_the_request_line_in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    import skms.observability

    # Given a Lambda environment, where the runtime sets the trace id per invocation
    monkeypatch.setattr(skms.observability, "_TRACE_ID_POSSIBLE", True)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=5;Sampled=1")
    fast, generic = _lines_both_ways(monkeypatch, {"operation": "x"})
    # Then both lines carry it, last
    assert list(json.loads(fast).items())[-1] == ("xray_trace_id", "1-5759e988-bd862e3fe1be46a994272793")
    assert _without_time(fast) == _without_time(generic)


def test_a_handler_level_above_info_drops_the_request_line(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = logger.registered_handler
    monkeypatch.setattr(handler, "level", logging.WARNING)
    import io

    from skms.observability import log_request

    stream = io.StringIO()
    monkeypatch.setattr(handler, "stream", stream)
    log_request({"operation": "x"})
    assert stream.getvalue() == ""


def test_a_second_handler_on_the_logger_gets_the_request_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from skms.observability import _STD_LOGGER, log_request

    # Given another handler on the service logger
    stream, other = io.StringIO(), io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    second = logging.StreamHandler(other)
    _STD_LOGGER.addHandler(second)
    try:
        log_request({"operation": "seen-twice"})
    finally:
        _STD_LOGGER.removeHandler(second)
    # Then the line reaches both
    assert json.loads(stream.getvalue())["operation"] == "seen-twice"
    assert other.getvalue() == "request\n"


@pytest.mark.parametrize(
    ("options", "written_as_text"),
    [
        pytest.param({}, True, id="default"),
        pytest.param(
            {"json_serializer": lambda log: json.dumps(log, sort_keys=True)}, False, id="own serializer"
        ),
        pytest.param({"use_rfc3339": True}, False, id="rfc3339 time"),
        pytest.param({"datefmt": "%H:%M"}, False, id="own time format"),
        pytest.param({"json_default": repr}, True, id="own default"),
    ],
)
def test_the_request_line_is_text_only_for_the_default_document(
    options: dict[str, Any], written_as_text: bool
) -> None:
    formatter = LeanFormatter(service="skms", **options)
    assert (formatter._request_line is not None) is written_as_text


def test_key_changes_recompute_the_request_line() -> None:
    formatter = LeanFormatter(service="skms")
    assert formatter._request_line is not None
    assert formatter._request_line.constant == ',"service":"skms"'
    formatter.append_keys(tenant="t-é", skipped=None)
    assert formatter._request_line is not None
    assert formatter._request_line.constant == ',"service":"skms","tenant":"t-é"'
    assert {"tenant", "skipped", "service", "message", "xray_trace_id"} <= formatter._request_line.keys
    formatter.append_keys(xray_trace_id="fixed")  # a constant X-Ray key: the generic document decides
    assert formatter._request_line is None
    formatter.clear_state()
    assert formatter._request_line is not None
    assert formatter._request_line.constant == ',"service":"skms"'


def test_an_indented_document_is_not_written_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    with pytest.warns(UserWarning, match="POWERTOOLS_DEV"):
        formatter = LeanFormatter(service="skms")
    assert formatter._request_line is None


def test_each_place_that_writes_the_line_is_its_location(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect
    import io

    from skms.observability import log_request

    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)

    def two_places() -> list[int]:
        lines = []
        for _ in range(2):  # each place twice: the second time from what was remembered
            lines.append(inspect.currentframe().f_lineno + 1)  # type: ignore[union-attr]
            log_request({"operation": "first"})
            lines.append(inspect.currentframe().f_lineno + 1)  # type: ignore[union-attr]
            log_request({"operation": "second"})
        return lines

    expected = [f"two_places:{line}" for line in two_places()]
    assert [json.loads(line)["location"] for line in stream.getvalue().splitlines()] == expected
