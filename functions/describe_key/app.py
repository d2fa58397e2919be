"""POST /v1.0/{project_id}/kms/describe-key (spec §3 op 2)."""

from skms.api import endpoint
from skms.logic.keys import describe_key
from skms.models.lifecycle import OperateKeyRequestBody

lambda_handler = endpoint("describe-key", OperateKeyRequestBody, describe_key)
