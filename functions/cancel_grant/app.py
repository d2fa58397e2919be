"""POST /v1.0/{project_id}/kms/revoke-grant (spec §7 op 29)."""

from skms.api import endpoint
from skms.logic.grants import revoke_grant
from skms.models.grants import RevokeGrantRequestBody

lambda_handler = endpoint("revoke-grant", RevokeGrantRequestBody, revoke_grant)
