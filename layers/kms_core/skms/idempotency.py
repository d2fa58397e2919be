"""Idempotent retries keyed by ``sequence`` (Powertools Idempotency; issue: lifecycle §6).

A create or state change that carries a ``sequence`` is run at most once per (project,
operation, sequence) within :data:`WINDOW_SECONDS`: a retry with the same body gets the first
answer again; the same sequence with another body is refused with KMS.0206, and so is a retry
while the first request is still running. Failed requests are not remembered (a retry runs again).

Only operations whose answers hold no secret are idempotent (see ``endpoint(idempotent=True)``):
the stored answer is a key id, state, alias or description, never key material or a data key.

Storage: in AWS, Powertools' DynamoDB persistence layer on the keys table itself (partitions
``IDEMPOTENCY#<2 hex digits>``, sort key = the hashed idempotency key, ``expiration`` as the
table's TTL attribute); locally, ``skms.storage.idempotency.SqliteIdempotencyStore``, the same semantics on
the embedded store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from skms import errors
from skms.caller import Caller
from skms.storage.idempotency import build_persistence

WINDOW_SECONDS = 3600

__all__ = ["WINDOW_SECONDS", "Idempotency", "build_persistence", "scope_of"]


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
