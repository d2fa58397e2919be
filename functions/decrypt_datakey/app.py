"""POST /v1.0/{project_id}/kms/decrypt-datakey (spec §4 op 13)."""

from skms.api import endpoint
from skms.logic.datakeys import decrypt_datakey
from skms.models.datakeys import DecryptDatakeyRequestBody

lambda_handler = endpoint("decrypt-datakey", DecryptDatakeyRequestBody, decrypt_datakey, default_keys=True)
