"""Scheduled: destroy the material of keys whose deletion date has passed (skms.logic.sweep)."""

from skms.api.scheduled import delete_expired_keys_handler

lambda_handler = delete_expired_keys_handler
