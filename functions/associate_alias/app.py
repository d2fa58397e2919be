"""POST /v1.0/{project_id}/kms/alias/associate (spec §9 op 42)."""

from skms.api import endpoint
from skms.logic.aliases import associate_alias
from skms.models.aliases import AssociateAliasRequestBody

lambda_handler = endpoint("associate-alias", AssociateAliasRequestBody, associate_alias)
