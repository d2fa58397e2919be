"""POST /v1.0/{project_id}/kms/disable-key (spec §3 op 5)."""

from skms.api import endpoint
from skms.logic.keys import disable_key
from skms.models.lifecycle import OperateKeyRequestBody

lambda_handler = endpoint("disable-key", OperateKeyRequestBody, disable_key, idempotent=True)
