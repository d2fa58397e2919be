"""POST /v1.0/{project_id}/kms/get-key-rotation-status (spec §11 op 48)."""

from skms.api import endpoint
from skms.logic.rotation import show_key_rotation_status
from skms.models.lifecycle import OperateKeyRequestBody

lambda_handler = endpoint("get-key-rotation-status", OperateKeyRequestBody, show_key_rotation_status)
