"""POST /v1.0/{project_id}/kms/delete-imported-key-material (spec §10 op 45)."""

from skms.api import endpoint
from skms.logic.importing import delete_imported_key_material
from skms.models.lifecycle import OperateKeyRequestBody

lambda_handler = endpoint(
    "delete-imported-key-material", OperateKeyRequestBody, delete_imported_key_material, idempotent=True
)
