"""POST /v1.0/{project_id}/kms/encrypt-data (spec §4 op 14)."""

from skms.api import endpoint
from skms.logic.data import encrypt_data
from skms.models.data import EncryptDataRequestBody

lambda_handler = endpoint("encrypt-data", EncryptDataRequestBody, encrypt_data, default_keys=True)
