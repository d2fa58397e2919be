"""GET /v1.0/{project_id}/kms/user-instances (spec §15 op 70)."""

from skms.api import endpoint
from skms.logic.misc import show_user_instances
from skms.models.misc import EmptyRequestBody

lambda_handler = endpoint("show-user-instances", EmptyRequestBody, show_user_instances)
