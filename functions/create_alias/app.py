"""POST /v1.0/{project_id}/kms/aliases (spec §9 op 39)."""

from skms.api import endpoint
from skms.logic.aliases import create_alias
from skms.models.aliases import CreateAliasRequestBody

lambda_handler = endpoint("create-alias", CreateAliasRequestBody, create_alias, success_status=201)
