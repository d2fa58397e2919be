"""POST /v1.0/{project_id}/kms/enable-key (spec §3 op 4)."""

from skms.api import endpoint
from skms.logic.keys import enable_key
from skms.models.lifecycle import OperateKeyRequestBody

lambda_handler = endpoint("enable-key", OperateKeyRequestBody, enable_key, idempotent=True)
