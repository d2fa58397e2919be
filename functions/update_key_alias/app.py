"""POST /v1.0/{project_id}/kms/update-key-alias (spec §3 op 8)."""

from skms.api import endpoint
from skms.logic.keys import update_key_alias
from skms.models.lifecycle import UpdateKeyAliasRequestBody

lambda_handler = endpoint("update-key-alias", UpdateKeyAliasRequestBody, update_key_alias, idempotent=True)
