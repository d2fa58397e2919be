"""POST /v1.0/{project_id}/kms/encrypt-datakey (spec §4 op 12)."""

from skms.api import endpoint
from skms.logic.data import encrypt_datakey
from skms.models.data import EncryptDatakeyRequestBody

lambda_handler = endpoint("encrypt-datakey", EncryptDatakeyRequestBody, encrypt_datakey, default_keys=True)
