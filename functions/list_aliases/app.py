"""GET /v1.0/{project_id}/kms/aliases?key_id=&limit=&marker= (spec §9 op 41)."""

from skms.api import endpoint
from skms.logic.aliases import list_aliases
from skms.models.aliases import ListAliasesRequestBody

lambda_handler = endpoint("list-aliases", ListAliasesRequestBody, list_aliases)
