"""POST /v1.0/{project_id}/kms/get-publickey (spec §5 op 24)."""

from skms.api import endpoint
from skms.logic.signing import show_public_key
from skms.models.signing import ShowPublicKeyRequestBody

lambda_handler = endpoint("get-publickey", ShowPublicKeyRequestBody, show_public_key)
