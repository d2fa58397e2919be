"""POST /v1.0/{project_id}/kms/rotate-on-demand (spec §11 op 50)."""

from skms.api import endpoint
from skms.logic.rotation import rotate_on_demand
from skms.models.rotation import RotateOnDemandRequestBody

lambda_handler = endpoint("rotate-on-demand", RotateOnDemandRequestBody, rotate_on_demand)
