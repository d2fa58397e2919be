"""POST /v1.0/{project_id}/kms/list-keys (spec §3 op 3)."""

from skms.api import endpoint
from skms.logic.keys import list_keys
from skms.models.lifecycle import ListKeysRequestBody

lambda_handler = endpoint("list-keys", ListKeysRequestBody, list_keys)
