"""POST /v1.0/{project_id}/kms/update-key-rotation-interval (spec §11 op 49)."""

from skms.api import endpoint
from skms.logic.rotation import update_key_rotation_interval
from skms.models.rotation import UpdateKeyRotationIntervalRequestBody

lambda_handler = endpoint(
    "update-key-rotation-interval",
    UpdateKeyRotationIntervalRequestBody,
    update_key_rotation_interval,
    idempotent=True,
)
