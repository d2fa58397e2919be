"""Key rotation (spec §11 ops 46-50; access-control §7)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from skms import errors
from skms.models.base import KEY_ID_PATTERN, SequenceMixin, WireModel

MIN_ROTATION_INTERVAL, MAX_ROTATION_INTERVAL = 30, 365  # days, §11 op 49


class UpdateKeyRotationIntervalRequestBody(SequenceMixin):
    """§11 op 49: ``rotation_interval`` is a JSON **number** of days (the SDK types it int)."""

    key_id: str = Field(pattern=KEY_ID_PATTERN)
    rotation_interval: int = Field(ge=MIN_ROTATION_INTERVAL, le=MAX_ROTATION_INTERVAL)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "rotation_interval": errors.InvalidRotationInterval,
    }


class RotateOnDemandRequestBody(WireModel):
    """§11 op 50: only ``key_id`` (the SDK's model has no ``sequence``)."""

    key_id: str = Field(pattern=KEY_ID_PATTERN)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {"key_id": errors.InvalidKeyId}


class RotationKeyMaterial(BaseModel):
    """One version of the key's material (the SDK's GetkeyRotationStatusResponseBodyKeyMaterials):
    strings, but ``state`` a number (0 waiting to rotate, 2 enabled)."""

    material_id: str
    charge_id: str
    create_time: str
    expiration_time: str
    state: int


class ShowKeyRotationStatusResponseBody(BaseModel):
    """§11 op 48: ``key_rotation_enabled`` a JSON boolean (the SDK applies bool(), §F7), the
    interval and count numbers, ``last_rotation_time`` an epoch-millisecond string ("" before
    the first rotation)."""

    key_rotation_enabled: bool
    rotation_interval: int
    last_rotation_time: str
    number_of_rotations: int
    key_materials: list[RotationKeyMaterial]


class KeyRotationChangeResponseBody(BaseModel):
    """Ops 46, 47 and 49 answer ``{}``: the SDK's response models have no fields (§11)."""


class RotateOnDemandResponseBody(BaseModel):
    key_id: str
