"""POST /v1.0/{project_id}/kms/update-key-description (spec §3 op 9)."""

from skms.api import endpoint
from skms.logic.keys import update_key_description
from skms.models.lifecycle import UpdateKeyDescriptionRequestBody

lambda_handler = endpoint(
    "update-key-description", UpdateKeyDescriptionRequestBody, update_key_description, idempotent=True
)
