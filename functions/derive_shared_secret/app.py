"""POST /v1.0/{project_id}/kms/derive-shared-secret (spec §5 op 25)."""

from skms.api import endpoint
from skms.logic.agreement import derive_shared_secret
from skms.models.agreement import DeriveSharedSecretRequestBody

lambda_handler = endpoint("derive-shared-secret", DeriveSharedSecretRequestBody, derive_shared_secret)
