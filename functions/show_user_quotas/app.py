"""GET /v1.0/{project_id}/kms/user-quotas (spec §15 op 69)."""

from skms.api import endpoint
from skms.logic.misc import show_user_quotas
from skms.models.misc import EmptyRequestBody

lambda_handler = endpoint("show-user-quotas", EmptyRequestBody, show_user_quotas)
