"""POST /v1.0/{project_id}/kms/{key_id}/tags/action (spec §8 op 34): 204."""

from skms.api import endpoint
from skms.logic.tags import batch_create_kms_tags
from skms.models.tags import BatchCreateKmsTagsRequestBody

lambda_handler = endpoint(
    "batch-create-kms-tags", BatchCreateKmsTagsRequestBody, batch_create_kms_tags, success_status=204
)
