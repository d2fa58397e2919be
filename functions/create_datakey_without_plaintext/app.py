"""POST /v1.0/{project_id}/kms/create-datakey-without-plaintext (spec §4 op 11)."""

from skms.api import endpoint
from skms.logic.data import create_datakey_without_plaintext
from skms.models.datakeys import CreateDatakeyRequestBody

lambda_handler = endpoint(
    "create-datakey-without-plaintext",
    CreateDatakeyRequestBody,
    create_datakey_without_plaintext,
    default_keys=True,
)
