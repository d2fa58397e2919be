"""Idempotent retries keyed by ``sequence`` (Powertools Idempotency; issue: lifecycle §6).

A create or state change that carries a ``sequence`` is run at most once per (project,
operation, sequence) within :data:`WINDOW_SECONDS`: a retry with the same body gets the first
answer again; the same sequence with another body is refused with KMS.0206, and so is a retry
while the first request is still running. Failed requests are not remembered (a retry runs again).

Only operations whose answers hold no secret are idempotent (see ``endpoint(idempotent=True)``):
the stored answer is a key id, state, alias or description, never key material or a data key.

Replays (:class:`ReplayGuard`): a signed (AK/SK) request is executed at most once within its
X-Sdk-Date window (spec §F6), keyed by a SHA-256 of its access key and signature. Its second
arrival gets the first answer (operations whose answers hold no secret) or is refused with 403
KMS.0307 (the others, with ``KMS_REPLAY_PROTECTION=all``); errors are answers too, so a replay of
a refused request is refused again without running. See README, Safe retries.

Storage: in AWS, Powertools' DynamoDB persistence layer on the keys table itself (partitions
``IDEMPOTENCY#<2 hex digits>``, sort key = the hashed idempotency key, ``expiration`` as the
table's TTL attribute); locally, ``skms.storage.idempotency.SqliteIdempotencyStore``, the same
semantics on the embedded store, except for replays: those answered are claimed in process memory
and their records written in one commit by :class:`ReplayGuard` itself (the same rows), and the
markers of those refused without an answer are held in process memory and written behind
(``skms.storage.idempotency.ReplayMarkers``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord

from skms import errors
from skms.auth.request_signing import MAX_CLOCK_SKEW
from skms.caller import Caller
from skms.storage.idempotency import ReplayAnswers, SqliteIdempotencyStore, build_persistence

WINDOW_SECONDS = 3600
# A request dated D is accepted while now is within D ± MAX_CLOCK_SKEW; remembered from its first
# arrival (>= D - skew) for twice the skew, it is remembered for as long as it can be accepted.
REPLAY_WINDOW_SECONDS = int(2 * MAX_CLOCK_SKEW.total_seconds())
# X-Sdk-Date has one-second resolution, so a client's own identical calls within one second (disable,
# enable, disable; or a deliberate second disable that must answer KMS.1301) carry byte-identical
# signatures: the server cannot tell them from a replay. A repeat that arrives within this many
# seconds of the first is therefore run again as a new request (its record keeps the first answer);
# any later one is a replay. The first arrival is read from the record (its expiry minus the window,
# in whole seconds), so the grace is between REPLAY_GRACE_SECONDS - 1 and REPLAY_GRACE_SECONDS.
REPLAY_GRACE_SECONDS = 2

__all__ = [
    "REPLAY_WINDOW_SECONDS",
    "WINDOW_SECONDS",
    "Idempotency",
    "ReplayGuard",
    "build_persistence",
    "scope_of",
]


def scope_of(caller: Caller) -> str:
    """Whose sequences these are: the project and the authenticated principal (an access key, a
    user, or "direct" for direct invocations), so no caller can claim another's sequence."""
    return f"{caller.project_id}#{caller.principal.id}"


Runner = Callable[[], dict[str, Any]]


class _NoLambdaContext:
    """For direct calls without a Lambda context (tests, tools): a 30-second in-progress lock."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


class Idempotency:
    """One per function: runs ``work`` at most once per (project, operation, sequence)."""

    def __init__(self, operation: str, persistence: BasePersistenceLayer) -> None:
        self._operation = operation
        self._config = IdempotencyConfig(
            event_key_jmespath="scope",
            payload_validation_jmespath="body",
            expires_after_seconds=WINDOW_SECONDS,
            raise_on_no_idempotency_key=True,
        )
        self._persistence = persistence

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="request",
            persistence_store=persistence,
            config=self._config,
            key_prefix=f"skms#{operation}",
        )
        def run(request: dict[str, Any], work: Runner) -> dict[str, Any]:
            return work()

        self._run = run

    def run(
        self, *, caller: Caller, sequence: str, body: dict[str, Any], context: Any, work: Runner
    ) -> dict[str, Any]:
        """Run ``work`` once per (:func:`scope_of` the caller, operation, sequence)."""
        # The in-progress lock expires when the invocation would time out, so a crashed request
        # does not block its retries for the whole window.
        if context is None or not hasattr(context, "get_remaining_time_in_millis"):
            context = _NoLambdaContext()
        self._config.register_lambda_context(context)
        request = {
            "scope": f"{scope_of(caller)}#{sequence}",
            "body": json.loads(json.dumps(body, sort_keys=True)),
        }
        try:
            result: dict[str, Any] = self._run(request=request, work=work)
        except IdempotencyValidationError:
            raise errors.InvalidSequence("This sequence was already used with a different request.") from None
        except IdempotencyAlreadyInProgressError:
            raise errors.InvalidSequence("A request with this sequence is still in progress.") from None
        return result


def _error_answer(exc: errors.KmsError) -> dict[str, Any]:
    return {"error": {"status": exc.status, "code": exc.code, "message": exc.message}}


def _replayed_error(answer: dict[str, Any]) -> errors.KmsError:
    """The error a request was first answered with, to answer its replay with."""
    error = answer["error"]
    kind = type(
        "ReplayedError",
        (errors.KmsError,),
        {
            "code": str(error["code"]),
            "status": int(error["status"]),
            "default_message": str(error["message"]),
        },
    )
    replayed: errors.KmsError = kind()
    return replayed


def _arrived_within_grace(expiry: int, now: float) -> bool:
    """Whether a repeat at ``now`` of the request whose record expires at ``expiry`` is within
    :data:`REPLAY_GRACE_SECONDS` of its first arrival."""
    return now < expiry - REPLAY_WINDOW_SECONDS + REPLAY_GRACE_SECONDS


def _replay_expiry() -> int:
    """A replay record's expiry, counted from the end of the work (as Powertools counts it)."""
    return int(time.time()) + REPLAY_WINDOW_SECONDS


def _replayed(answer_json: str | None) -> dict[str, Any]:
    """A replay's answer from its record: the first answer, or the error it was. A record without an
    answer (a marker) answers nothing: the request was used."""
    answer = json.loads(answer_json) if answer_json else None
    if not isinstance(answer, dict):
        raise errors.AccessDenied("This signed request was already used; sign a new request.")
    if "error" in answer:
        raise _replayed_error(answer)
    return answer


_STILL_RUNNING = "The same signed request is still being processed; retry."


# What Powertools hashes and stores with (json.dumps(..., sort_keys=True)), built once.
_SORTED_JSON = json.JSONEncoder(sort_keys=True)


def replay_record_key(key_prefix: str, fingerprint: str) -> str:
    """The id of a request's replay record: what Powertools computes for the data ``{"request":
    fingerprint}`` under ``event_key_jmespath="request"`` and ``hash_function="sha256"`` (the key
    prefix, ``#``, the SHA-256 of the selected value's JSON), so that both paths read each other's
    records (tests/unit/test_replay_answers.py pins it)."""
    return f"{key_prefix}#{hashlib.sha256(_SORTED_JSON.encode(fingerprint).encode()).hexdigest()}"


class ReplayGuard:
    """One per function: runs a signed request's ``work`` at most once per
    :data:`REPLAY_WINDOW_SECONDS`, keyed by a hash of its :func:`fingerprint <skms.auth.
    request_signing.fingerprint>`.

    With ``answers`` (operations whose answers hold no secret), the first arrival's answer, an
    error included, is the answer of every later one: Powertools Idempotency on DynamoDB; on SQLite
    the same records written directly (:meth:`_answer_once`). Without (an answer may hold a data key
    or plaintext, which is never written down), a marker set before the work (a conditional write on
    DynamoDB; on SQLite a check-and-set in process memory, written behind): a later arrival finds it
    and is refused (403 KMS.0307), whatever the first one's outcome; a client re-signs to retry."""

    def __init__(self, operation: str, persistence: BasePersistenceLayer, *, answers: bool) -> None:
        self._answers = answers
        self._persistence = persistence
        sqlite = persistence if isinstance(persistence, SqliteIdempotencyStore) else None
        # Markers without answers on SQLite (`skms serve`): in process memory, written behind.
        self._markers = sqlite.replay_markers() if sqlite is not None and not answers else None
        # Answers on SQLite: claims in process memory, one SELECT and one commit per request.
        self._sqlite_answers = sqlite.replay_answers() if sqlite is not None and answers else None
        self._key_prefix = f"skms#{operation}#replay"
        # Same signature = same request (method, path, query, signed headers, date, body): nothing
        # to validate beyond the key.
        self._config = IdempotencyConfig(
            event_key_jmespath="request",
            expires_after_seconds=REPLAY_WINDOW_SECONDS,
            raise_on_no_idempotency_key=True,
            hash_function="sha256",
        )

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="request",
            persistence_store=persistence,
            config=self._config,
            key_prefix=self._key_prefix,
        )
        def run(request: dict[str, Any], work: Runner) -> dict[str, Any]:
            try:
                return work()
            except errors.KmsError as exc:  # the caller's error: its replays get it again
                return _error_answer(exc)

        self._run = run

    @property
    def marks_only(self) -> bool:
        """Whether this guard keeps no answer: :meth:`claim` before the work is all it does."""
        return not self._answers

    def claim(self, fingerprint: str) -> None:
        """For a guard that :attr:`marks_only`: mark the request as run, or refuse it (403
        KMS.0307) if it was, beyond the grace of its signing second. The caller then runs it."""
        if self._answers:
            raise TypeError("this guard answers replays: use run()")
        if self._markers is not None:
            self._claim_marker(fingerprint)
        else:
            self._mark_once(fingerprint)

    def run(self, *, fingerprint: str, context: Any, work: Runner) -> dict[str, Any]:
        """``fingerprint``: a hash naming the signed request (never the signature itself)."""
        if not self._answers:
            self.claim(fingerprint)
            return work()
        if self._sqlite_answers is not None:
            return self._answer_once(self._sqlite_answers, fingerprint, work)
        if context is None or not hasattr(context, "get_remaining_time_in_millis"):
            context = _NoLambdaContext()
        self._config.register_lambda_context(context)
        ran: list[bool] = []

        def work_once() -> dict[str, Any]:
            ran.append(True)
            return work()

        try:
            stored: dict[str, Any] = self._run(request={"request": fingerprint}, work=work_once)
        except IdempotencyAlreadyInProgressError:
            raise errors.ServiceUnavailable(_STILL_RUNNING) from None
        if not ran and self._within_grace(self._first_record(fingerprint)):
            return work()  # the client's own repeat within the signing second: a new request
        if "error" in stored:
            raise _replayed_error(stored)
        return stored

    def _answer_once(self, records: ReplayAnswers, fingerprint: str, work: Runner) -> dict[str, Any]:
        """:meth:`run` on SQLite (`skms serve`): Powertools' flow without its generic machinery and
        without its first commit. The in-progress lock is a claim in process memory (one server per
        data directory: README, Replayed requests), so a request pays one SELECT and, after its work,
        one commit of the record with its answer, before the answer goes out. A crash during the
        work leaves nothing behind: a retry runs (Powertools' in-progress record blocked it until its
        lock lapsed). The records are Powertools' rows: either version reads the other's."""
        key = replay_record_key(self._key_prefix, fingerprint)
        if not records.claims.claim(key):
            raise errors.ServiceUnavailable(_STILL_RUNNING)
        try:
            now = time.time()
            record = records.read(key)
            if record is not None and record.expiration >= int(now):  # live (Powertools' test)
                if record.status == STATUS_CONSTANTS["INPROGRESS"]:
                    # An earlier version's lock, running in another process, or lapsed (a crash).
                    lock = record.in_progress_expiration
                    if lock is None or lock >= now * 1000:
                        raise errors.ServiceUnavailable(_STILL_RUNNING)
                elif _arrived_within_grace(record.expiration, now):
                    return work()  # the client's own repeat within the signing second: a new request
                else:
                    return _replayed(record.data)
            try:
                answer = work()
            except errors.KmsError as exc:  # the caller's error: its replays get it again
                records.write(key, _SORTED_JSON.encode(_error_answer(exc)), _replay_expiry())
                raise
            records.write(key, _SORTED_JSON.encode(answer), _replay_expiry())
            return answer
        finally:
            records.claims.release(key)

    def _first_record(self, fingerprint: str) -> DataRecord | None:
        try:
            return self._persistence.get_record(data={"request": fingerprint})
        except IdempotencyItemNotFoundError:
            return None

    @staticmethod
    def _within_grace(record: DataRecord | None) -> bool:
        if record is None or record.expiry_timestamp is None:
            return False
        return _arrived_within_grace(record.expiry_timestamp, time.time())

    def _claim_marker(self, fingerprint: str) -> None:
        """:meth:`_mark_once` on the process's markers (:class:`skms.storage.idempotency.
        ReplayMarkers`): one hash and one locked dict look-up instead of a SQLite commit."""
        assert self._markers is not None
        now = time.time()
        held = self._markers.claim(
            hashlib.sha256(fingerprint.encode()).digest(), int(now) + REPLAY_WINDOW_SECONDS, int(now)
        )
        if held is not None and not _arrived_within_grace(held, now):
            raise errors.AccessDenied("This signed request was already used; sign a new request.")

    def _mark_once(self, fingerprint: str) -> None:
        """Put-if-absent (or expired) of a marker holding nothing but the key and its expiry: the
        same conditional write Powertools makes, through the same persistence layer."""
        marker = DataRecord(
            idempotency_key=f"{self._key_prefix}#{hashlib.sha256(fingerprint.encode()).hexdigest()}",
            status=STATUS_CONSTANTS["COMPLETED"],
            expiry_timestamp=int(time.time()) + REPLAY_WINDOW_SECONDS,
        )
        try:
            self._persistence._put_record(data_record=marker)
        except IdempotencyItemAlreadyExistsError:
            try:
                existing: DataRecord | None = self._persistence._get_record(marker.idempotency_key)
            except IdempotencyItemNotFoundError:
                existing = None
            if not self._within_grace(existing):
                raise errors.AccessDenied(
                    "This signed request was already used; sign a new request."
                ) from None
