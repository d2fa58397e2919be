"""GET /v1.0/{project_id}/kms/{key_id}/tags (spec §8 op 36)."""

from skms.api import endpoint
from skms.logic.tags import show_kms_tags
from skms.models.tags import ShowKmsTagsRequestBody

lambda_handler = endpoint("show-kms-tags", ShowKmsTagsRequestBody, show_kms_tags)
