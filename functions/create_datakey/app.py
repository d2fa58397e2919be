"""POST /v1.0/{project_id}/kms/create-datakey (spec §4 op 10)."""

from skms.api import endpoint
from skms.logic.datakeys import create_datakey
from skms.models.datakeys import CreateDatakeyRequestBody

lambda_handler = endpoint("create-datakey", CreateDatakeyRequestBody, create_datakey, default_keys=True)
