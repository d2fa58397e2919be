"""POST /v1.0/{project_id}/kms/create-ec-datakey-pair (spec §4 op 18)."""

from skms.api import endpoint
from skms.logic.keypairs import create_ec_datakey_pair
from skms.models.keypairs import CreateEcDatakeyPairRequestBody

lambda_handler = endpoint(
    "create-ec-datakey-pair", CreateEcDatakeyPairRequestBody, create_ec_datakey_pair, default_keys=True
)
