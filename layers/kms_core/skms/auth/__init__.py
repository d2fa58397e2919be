"""Authentication: AK/SK request signatures (spec §F6), tokens, passwords, and the authorizer."""
