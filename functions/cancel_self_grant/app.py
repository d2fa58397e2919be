"""POST /v1.0/{project_id}/kms/retire-grant (spec §7 op 30)."""

from skms.api import endpoint
from skms.logic.grants import retire_grant
from skms.models.grants import RevokeGrantRequestBody

lambda_handler = endpoint("retire-grant", RevokeGrantRequestBody, retire_grant)
