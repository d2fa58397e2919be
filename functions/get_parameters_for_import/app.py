"""POST /v1.0/{project_id}/kms/get-parameters-for-import (spec §10 op 43)."""

from skms.api import endpoint
from skms.logic.importing import get_parameters_for_import
from skms.models.importing import GetParametersForImportRequestBody

lambda_handler = endpoint(
    "get-parameters-for-import", GetParametersForImportRequestBody, get_parameters_for_import
)
