"""GET /v1.0/{project_id}/kms/tags (spec §8 op 37)."""

from skms.api import endpoint
from skms.logic.tags import list_kms_tags
from skms.models.tags import ListKmsTagsRequestBody

lambda_handler = endpoint("list-kms-tags", ListKmsTagsRequestBody, list_kms_tags)
