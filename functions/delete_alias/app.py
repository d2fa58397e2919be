"""DELETE /v1.0/{project_id}/kms/aliases, with a JSON body (spec §9 op 40)."""

from skms.api import endpoint
from skms.logic.aliases import delete_alias
from skms.models.aliases import DeleteAliasRequestBody

lambda_handler = endpoint("delete-alias", DeleteAliasRequestBody, delete_alias, success_status=204)
