"""POST /v1.0/{project_id}/kms/resource_instances/action (spec §8 op 38)."""

from skms.api import endpoint
from skms.logic.tags import list_kms_by_tags
from skms.models.tags import ListKmsByTagsRequestBody

lambda_handler = endpoint("list-kms-by-tags", ListKmsByTagsRequestBody, list_kms_by_tags)
