"""POST /v1.0/{project_id}/kms/list-retirable-grants (spec §7 op 32)."""

from skms.api import endpoint
from skms.logic.grants import list_retirable_grants
from skms.models.grants import ListRetirableGrantsRequestBody

lambda_handler = endpoint("list-retirable-grants", ListRetirableGrantsRequestBody, list_retirable_grants)
