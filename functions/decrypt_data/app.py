"""POST /v1.0/{project_id}/kms/decrypt-data (spec §4 op 15)."""

from skms.api import endpoint
from skms.logic.data import decrypt_data
from skms.models.data import DecryptDataRequestBody

lambda_handler = endpoint("decrypt-data", DecryptDataRequestBody, decrypt_data, default_keys=True)
