"""Request/response models that mirror the wire (spec §3, §4).

Field names keep the wire's snake_case and its JSON types: numbers that the API sends as strings
stay strings. Constraints come from spec/huawei-kms-api.md. Each model maps its fields to the
KMS error (§F2) that a bad value gets, via ``FIELD_ERRORS``; see :func:`skms.models.base.parse_body`.
"""
