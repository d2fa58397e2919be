"""POST /v1.0/{project_id}/kms/create-grant (spec §7 op 28)."""

from skms.api import endpoint
from skms.logic.grants import create_grant
from skms.models.grants import CreateGrantRequestBody

lambda_handler = endpoint("create-grant", CreateGrantRequestBody, create_grant, idempotent=True)
