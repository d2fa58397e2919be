"""POST /v1.0/{project_id}/kms/re-encrypt (spec §4 op 16)."""

from skms.api import endpoint
from skms.logic.data import re_encrypt
from skms.models.data import ReEncryptRequestBody

lambda_handler = endpoint("re-encrypt", ReEncryptRequestBody, re_encrypt, default_keys=True)
