"""POST /v1.0/{project_id}/kms/verify (spec §5 op 23)."""

from skms.api import endpoint
from skms.logic.signing import verify
from skms.models.signing import VerifyRequestBody

lambda_handler = endpoint("verify", VerifyRequestBody, verify)
