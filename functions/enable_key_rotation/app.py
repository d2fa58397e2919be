"""POST /v1.0/{project_id}/kms/enable-key-rotation (spec §11 op 46)."""

from skms.api import endpoint
from skms.logic.rotation import enable_key_rotation
from skms.models.lifecycle import OperateKeyRequestBody

lambda_handler = endpoint("enable-key-rotation", OperateKeyRequestBody, enable_key_rotation, idempotent=True)
