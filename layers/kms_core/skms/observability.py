"""Structured JSON logging without secrets (Powertools Logger).

Log lines carry operation, project, key id, request id and outcome. Never log events, bodies,
plaintext, key material, data keys, ciphertexts or credentials: callers pass only those fields.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="skms", log_uncaught_exceptions=False)
