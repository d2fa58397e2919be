"""GET /{version_id} (spec §15 op 72) — public, like Huawei's version documents."""

from skms.api import endpoint
from skms.logic.misc import show_version
from skms.models.misc import ShowVersionRequestBody

lambda_handler = endpoint("show-version", ShowVersionRequestBody, show_version, public=True)
