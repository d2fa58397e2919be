"""POST /v1.0/{project_id}/kms/gen-random (spec §15 op 68)."""

from skms.api import endpoint
from skms.logic.data import create_random
from skms.models.data import CreateRandomRequestBody

lambda_handler = endpoint("gen-random", CreateRandomRequestBody, create_random)
