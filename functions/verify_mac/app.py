"""POST /v1.0/{project_id}/kms/verify-mac (spec §6 op 27)."""

from skms.api import endpoint
from skms.logic.mac import verify_mac
from skms.models.mac import VerifyMacRequestBody

lambda_handler = endpoint("verify-mac", VerifyMacRequestBody, verify_mac)
