"""The lean log formatter writes exactly the document Powertools' formatter writes."""

from __future__ import annotations

import json
import logging
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
