"""POST /v1.0/{project_id}/kms/generate-mac (spec §6 op 26)."""

from skms.api import endpoint
from skms.logic.mac import generate_mac
from skms.models.mac import GenerateMacRequestBody

lambda_handler = endpoint("generate-mac", GenerateMacRequestBody, generate_mac)
