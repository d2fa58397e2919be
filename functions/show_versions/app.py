"""GET / (spec §15 op 71) — public, like Huawei's version documents."""

from skms.api import endpoint
from skms.logic.misc import show_versions
from skms.models.misc import EmptyRequestBody

lambda_handler = endpoint("show-versions", EmptyRequestBody, show_versions, public=True)
