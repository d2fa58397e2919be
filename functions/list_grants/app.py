"""POST /v1.0/{project_id}/kms/list-grants (spec §7 op 31)."""

from skms.api import endpoint
from skms.logic.grants import list_grants
from skms.models.grants import ListGrantsRequestBody

lambda_handler = endpoint("list-grants", ListGrantsRequestBody, list_grants)
