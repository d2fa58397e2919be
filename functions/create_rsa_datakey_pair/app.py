"""POST /v1.0/{project_id}/kms/create-rsa-datakey-pair (spec §4 op 17)."""

from skms.api import endpoint
from skms.logic.keypairs import create_rsa_datakey_pair
from skms.models.keypairs import CreateRsaDatakeyPairRequestBody

lambda_handler = endpoint(
    "create-rsa-datakey-pair", CreateRsaDatakeyPairRequestBody, create_rsa_datakey_pair, default_keys=True
)
