"""POST /v3/auth/tokens: IAM-compatible password tokens for X-Auth-Token (no authorizer)."""

from skms.api import endpoint
from skms.logic.tokens import create_token
from skms.models.tokens import CreateTokenRequestBody

lambda_handler = endpoint("create-token", CreateTokenRequestBody, create_token, 201, public=True)
