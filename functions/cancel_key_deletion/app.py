"""POST /v1.0/{project_id}/kms/cancel-key-deletion (spec §3 op 7)."""

from skms.api import endpoint
from skms.logic.keys import cancel_key_deletion
from skms.models.lifecycle import OperateKeyRequestBody

lambda_handler = endpoint("cancel-key-deletion", OperateKeyRequestBody, cancel_key_deletion, idempotent=True)
