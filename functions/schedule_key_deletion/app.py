"""POST /v1.0/{project_id}/kms/schedule-key-deletion (spec §3 op 6)."""

from skms.api import endpoint
from skms.logic.keys import schedule_key_deletion
from skms.models.lifecycle import ScheduleKeyDeletionRequestBody

lambda_handler = endpoint(
    "schedule-key-deletion", ScheduleKeyDeletionRequestBody, schedule_key_deletion, idempotent=True
)
