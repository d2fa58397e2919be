"""The API's Lambda REQUEST authorizer: AK/SK signatures and X-Auth-Token (see skms.auth.authorizer)."""

from skms.api.authorizer import authorizer_handler

lambda_handler = authorizer_handler
