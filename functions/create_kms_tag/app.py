"""POST /v1.0/{project_id}/kms/{key_id}/tags (spec §8 op 33): 204."""

from skms.api import endpoint
from skms.logic.tags import create_kms_tag
from skms.models.tags import CreateKmsTagRequestBody

lambda_handler = endpoint("create-kms-tag", CreateKmsTagRequestBody, create_kms_tag, success_status=204)
