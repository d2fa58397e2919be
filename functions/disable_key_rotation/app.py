"""POST /v1.0/{project_id}/kms/disable-key-rotation (spec §11 op 47)."""

from skms.api import endpoint
from skms.logic.rotation import disable_key_rotation
from skms.models.lifecycle import OperateKeyRequestBody

lambda_handler = endpoint(
    "disable-key-rotation", OperateKeyRequestBody, disable_key_rotation, idempotent=True
)
