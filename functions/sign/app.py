"""POST /v1.0/{project_id}/kms/sign (spec §5 op 22)."""

from skms.api import endpoint
from skms.logic.signing import sign
from skms.models.signing import SignRequestBody

lambda_handler = endpoint("sign", SignRequestBody, sign)
