"""DELETE /v1.0/{project_id}/kms/{key_id}/tags/{key} (spec §8 op 35): 204."""

from skms.api import endpoint
from skms.logic.tags import delete_tag
from skms.models.tags import DeleteTagRequestBody

lambda_handler = endpoint("delete-tag", DeleteTagRequestBody, delete_tag, success_status=204)
