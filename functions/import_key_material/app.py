"""POST /v1.0/{project_id}/kms/import-key-material (spec §10 op 44)."""

from skms.api import endpoint
from skms.logic.importing import import_key_material
from skms.models.importing import ImportKeyMaterialRequestBody

lambda_handler = endpoint(
    "import-key-material", ImportKeyMaterialRequestBody, import_key_material, idempotent=True
)
