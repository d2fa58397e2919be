"""Operation logic: plain functions that take a request model, the caller and the services, and
return a response model or raise a :class:`skms.errors.KmsError`. They never see events."""
