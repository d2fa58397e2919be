"""user-quotas, user-instances (real counts) and the API version documents (§15 ops 69-72)."""

from __future__ import annotations

from skms import errors
from skms.caller import Caller
from skms.models.misc import (
    ApiLink,
    ApiVersionDetail,
    EmptyRequestBody,
    QuotaResource,
    Quotas,
    ShowUserInstancesResponseBody,
    ShowUserQuotasResponseBody,
    ShowVersionRequestBody,
    ShowVersionResponseBody,
    ShowVersionsResponseBody,
)
from skms.runtime import Services

GRANTS_PER_KEY_QUOTA = 100
API_VERSION = "v1.0"
API_UPDATED = "2018-09-05T08:18:05Z"  # the date Huawei's v1.0 document gives


def show_user_quotas(
    body: EmptyRequestBody, caller: Caller, services: Services
) -> ShowUserQuotasResponseBody:
    used = services.stores.keys.count_keys(caller.project_id)
    return ShowUserQuotasResponseBody(
        quotas=Quotas(
            resources=[
                QuotaResource(type="CMK", used=used, quota=services.settings.key_quota),
                # A quota per key: "used" is the fullest key's count of grants (skms.logic.grants).
                QuotaResource(
                    type="grant_per_CMK",
                    used=services.stores.grants.max_grants_per_key(caller.project_id),
                    quota=GRANTS_PER_KEY_QUOTA,
                ),
            ]
        )
    )


def show_user_instances(
    body: EmptyRequestBody, caller: Caller, services: Services
) -> ShowUserInstancesResponseBody:
    """The number of customer keys of the project: its live keys minus its service default keys (§15)."""
    store = services.stores.keys
    return ShowUserInstancesResponseBody(
        # Two reads: a default key created between them must not make the answer negative.
        instance_num=max(0, store.count_keys(caller.project_id) - store.count_default_keys(caller.project_id))
    )


def _version(base: str = "") -> ApiVersionDetail:
    return ApiVersionDetail(
        id=API_VERSION,
        links=[ApiLink(href=f"{base}/{API_VERSION}/", rel="self")],
        version="",
        status="CURRENT",
        updated=API_UPDATED,
        min_version="",
    )


def show_versions(body: EmptyRequestBody, caller: Caller, services: Services) -> ShowVersionsResponseBody:
    return ShowVersionsResponseBody(versions=[_version()])


def show_version(body: ShowVersionRequestBody, caller: Caller, services: Services) -> ShowVersionResponseBody:
    if body.version_id != API_VERSION:
        raise errors.UnknownVersion
    return ShowVersionResponseBody(version=_version())
