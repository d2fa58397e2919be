"""Scheduled: rotate keys whose rotation period has passed (skms.logic.auto_rotation)."""

from skms.api.scheduled import rotate_due_keys_handler

lambda_handler = rotate_due_keys_handler
