"""POST /v1.0/{project_id}/kms/create-key (spec §3 op 1)."""

from skms.api import endpoint
from skms.logic.create_key import create_key
from skms.models.keys import CreateKeyRequestBody

lambda_handler = endpoint("create-key", CreateKeyRequestBody, create_key, idempotent=True)
