"""The one exception tree of the service and its wire rendering.

Every domain error carries its Huawei ``KMS.xxxx`` code and HTTP status (spec §F2). Only
:func:`error_body` turns one into ``{"error": {"error_code": ..., "error_msg": ...}}``.
Messages are fixed strings or describe the *request* (field names, limits); they never contain
key material, plaintext, ciphertext or secrets.
"""

from __future__ import annotations

from typing import Any, ClassVar


class KmsError(Exception):
    """Base of every error the API reports. Subclasses fix ``code`` and ``status``."""

    code: ClassVar[str] = "KMS.0101"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "KMS internal error."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"error_code": code, "error_msg": message}}


def _error(name: str, code: str, status: int, message: str) -> type[KmsError]:
    return type(name, (KmsError,), {"code": code, "status": status, "default_message": message})


# 400, request (§F2)
InvalidRequestUrl = _error("InvalidRequestUrl", "KMS.0201", 400, "Invalid request URL.")
InvalidJsonBody = _error("InvalidJsonBody", "KMS.0202", 400, "The request body is not a valid JSON object.")
MessageTooLong = _error("MessageTooLong", "KMS.0203", 400, "The request message is too long.")
MissingParameter = _error("MissingParameter", "KMS.0204", 400, "A required parameter is missing.")
InvalidKeyId = _error("InvalidKeyId", "KMS.0205", 400, "Invalid key_id.")
InvalidSequence = _error("InvalidSequence", "KMS.0206", 400, "Invalid sequence.")
InvalidEncryptionContext = _error("InvalidEncryptionContext", "KMS.0208", 400, "Invalid encryption_context.")
InvalidRequestFormat = _error("InvalidRequestFormat", "KMS.0214", 400, "Invalid request format.")
InvalidParameter = _error("InvalidParameter", "KMS.0308", 400, "Invalid parameter.")

# 400, key state (§F1, §F2)
KeyDisabled = _error("KeyDisabled", "KMS.0209", 400, "The key is disabled.")
KeyPendingDeletion = _error("KeyPendingDeletion", "KMS.0210", 400, "The key is pending deletion.")
DefaultKeyOperation = _error(
    "DefaultKeyOperation", "KMS.0211", 400, "The operation is not allowed on a default key."
)
KeyFrozen = _error("KeyFrozen", "KMS.0320", 400, "The key is frozen.")
KeyNotDisabled = _error("KeyNotDisabled", "KMS.1201", 400, "The key is not disabled.")
KeyNotEnabled = _error("KeyNotEnabled", "KMS.1301", 400, "The key is not enabled.")
AlreadyPendingDeletion = _error(
    "AlreadyPendingDeletion", "KMS.1402", 400, "The key is already pending deletion."
)
NotPendingDeletion = _error("NotPendingDeletion", "KMS.1501", 400, "The key is not pending deletion.")

# 400, crypto / key type (§F2)
UnsupportedForAsymmetric = _error(
    "UnsupportedForAsymmetric", "KMS.0325", 400, "The operation is not supported for asymmetric keys."
)
UnsupportedForSymmetric = _error(
    "UnsupportedForSymmetric", "KMS.0331", 400, "The operation is not supported for symmetric keys."
)
KeyIsSignVerify = _error("KeyIsSignVerify", "KMS.0335", 400, "The key is a SIGN_VERIFY key.")
UnsupportedForHmac = _error(
    "UnsupportedForHmac", "KMS.0341", 400, "The operation is not supported for HMAC keys."
)

# 400, crypto / key type
EcKeyCannotEncrypt = _error("EcKeyCannotEncrypt", "KMS.1114", 400, "EC keys cannot encrypt or decrypt.")

# 400, data keys and data (§F3, §F5)
InvalidPlainText = _error("InvalidPlainText", "KMS.2101", 400, "Invalid plain_text.")
InvalidDatakeyPlainLength = _error(
    "InvalidDatakeyPlainLength", "KMS.2102", 400, "datakey_plain_length must be between 1 and 1024."
)
DatakeyDigestMismatch = _error(
    "DatakeyDigestMismatch", "KMS.2103", 400, "The digest in plain_text does not match the data key."
)
PlainLengthMismatch = _error(
    "PlainLengthMismatch", "KMS.2104", 400, "plain_text does not match datakey_plain_length."
)
SymmetricAlgorithmUnsupported = _error(
    "SymmetricAlgorithmUnsupported",
    "KMS.2105",
    400,
    "The symmetric key does not support this encryption algorithm.",
)
AsymmetricAlgorithmUnsupported = _error(
    "AsymmetricAlgorithmUnsupported",
    "KMS.2106",
    400,
    "The asymmetric key does not support this encryption algorithm.",
)
PlaintextTooLong = _error(
    "PlaintextTooLong", "KMS.2108", 400, "The plaintext is too long for the asymmetric key."
)

# 400, signing (§F2)
DigestLengthMismatch = _error(
    "DigestLengthMismatch",
    "KMS.0329",
    400,
    "The digest length does not match the hash algorithm of the signing algorithm.",
)
SigningAlgorithmUnsupported = _error(
    "SigningAlgorithmUnsupported", "KMS.0332", 400, "The key does not support the signing algorithm."
)
KeyIsEncryptDecrypt = _error("KeyIsEncryptDecrypt", "KMS.0334", 400, "The key is an ENCRYPT_DECRYPT key.")
SymmetricKeyCannotSign = _error(
    "SymmetricKeyCannotSign", "KMS.1115", 400, "Symmetric keys cannot sign or verify."
)

# 400, rotation (§F2; access-control §7 for which key gets which)
ExternalKeyCannotRotate = _error(
    "ExternalKeyCannotRotate", "KMS.0312", 400, "Keys with imported (external) material cannot be rotated."
)
RotationNotEnabled = _error("RotationNotEnabled", "KMS.0313", 400, "Key rotation is not enabled.")
AsymmetricKeyCannotRotate = _error(
    "AsymmetricKeyCannotRotate", "KMS.0324", 400, "RSA and other asymmetric keys cannot be rotated."
)
KeystoreKeyCannotRotate = _error(
    "KeystoreKeyCannotRotate", "KMS.0338", 400, "Keys of a custom keystore cannot be rotated."
)
RotationNotDisabled = _error("RotationNotDisabled", "KMS.2901", 400, "Key rotation is not disabled.")
InvalidRotationInterval = _error(
    "InvalidRotationInterval", "KMS.3001", 400, "rotation_interval must be between 30 and 365 days."
)

# 400, import of key material (§F2; access-control §6)
ExternalKeyRequired = _error("ExternalKeyRequired", "KMS.0309", 400, "The key is not an external key.")
KeyNotPendingImport = _error("KeyNotPendingImport", "KMS.0310", 400, "The key is not pending import.")
ImportTokenExpired = _error("ImportTokenExpired", "KMS.2601", 400, "The import token has expired.")
MaterialExpiryInPast = _error(
    "MaterialExpiryInPast", "KMS.2602", 400, "expiration_time must be in the future."
)
ImportTokenKeyMismatch = _error(
    "ImportTokenKeyMismatch", "KMS.2603", 400, "The import token was issued for another key."
)
InvalidMaterialLength = _error(
    "InvalidMaterialLength", "KMS.2604", 400, "The imported key material has the wrong length."
)
ImportTokenInvalid = _error("ImportTokenInvalid", "KMS.2605", 400, "The import token failed verification.")
MaterialMismatch = _error(
    "MaterialMismatch", "KMS.2606", 400, "The imported key material differs from the key's first material."
)
PrivateKeyMissing = _error(
    "PrivateKeyMissing", "KMS.2608", 400, "encrypted_privatekey is required to import an asymmetric key."
)
PrivateKeyInvalid = _error("PrivateKeyInvalid", "KMS.2609", 400, "The imported private key is invalid.")
InvalidTemporaryKey = _error(
    "InvalidTemporaryKey", "KMS.2610", 400, "The temporary key must be 16 or 32 bytes."
)
MaterialNotDeletable = _error(
    "MaterialNotDeletable", "KMS.2701", 400, "The key material is not enabled or disabled."
)
PrivateKeyNotDeletable = _error(
    "PrivateKeyNotDeletable", "KMS.2702", 400, "Imported private key material cannot be deleted."
)

# 400, tags (§F2; access-control.md §5)
EmptyTagList = _error("EmptyTagList", "KMS.0401", 400, "The tag list is empty.")
InvalidMatchValue = _error("InvalidMatchValue", "KMS.0402", 400, "Invalid match value.")
InvalidMatchKey = _error("InvalidMatchKey", "KMS.0403", 400, "Invalid match key.")
InvalidTagAction = _error("InvalidTagAction", "KMS.0404", 400, "Invalid action.")
InvalidTagValue = _error("InvalidTagValue", "KMS.0405", 400, "Invalid tag value.")
InvalidTagKey = _error("InvalidTagKey", "KMS.0406", 400, "Invalid tag key.")
InvalidTagListSize = _error("InvalidTagListSize", "KMS.0407", 400, "Invalid tag list size.")
TooManyTags = _error("TooManyTags", "KMS.0409", 400, "Too many tags.")
TagValueTooLong = _error("TagValueTooLong", "KMS.0410", 400, "The tag value is too long.")
TagKeyTooLong = _error("TagKeyTooLong", "KMS.0411", 400, "The tag key is too long.")
InvalidTagList = _error("InvalidTagList", "KMS.0412", 400, "Invalid tag list.")
TooManyTagValues = _error("TooManyTagValues", "KMS.0413", 400, "Too many tag values.")
InvalidTags = _error("InvalidTags", "KMS.0414", 400, "Invalid tags.")
InvalidMatches = _error("InvalidMatches", "KMS.0415", 400, "Invalid matches.")
TagNotFound = _error("TagNotFound", "KMS.0416", 404, "The tag does not exist.")
InvalidTagOffset = _error("InvalidTagOffset", "KMS.0417", 400, "Invalid offset.")
OffsetNotRequired = _error("OffsetNotRequired", "KMS.0418", 400, "offset and limit are not used by count.")

# 400, create / alias
InvalidKeyAlias = _error("InvalidKeyAlias", "KMS.1101", 400, "Invalid key_alias.")
InvalidKeyDescription = _error("InvalidKeyDescription", "KMS.1103", 400, "Invalid key_description.")
DuplicateAlias = _error("DuplicateAlias", "KMS.1104", 400, "The key alias already exists.")
TooManyKeys = _error("TooManyKeys", "KMS.1105", 400, "The number of keys exceeds the quota.")
InvalidAlgorithm = _error("InvalidAlgorithm", "KMS.1110", 400, "Invalid key_spec or key_usage.")

# 400, deletion and paging
InvalidPendingDays = _error("InvalidPendingDays", "KMS.1401", 400, "pending_days must be between 7 and 1096.")
InvalidLimit = _error("InvalidLimit", "KMS.1601", 400, "Invalid limit.")
InvalidMarker = _error("InvalidMarker", "KMS.1602", 400, "Invalid marker.")

# 400, random
InvalidRandomLength = _error(
    "InvalidRandomLength", "KMS.1802", 400, "random_data_length must be a multiple of 8."
)

# 400, data keys (§F3)
InvalidDatakeyLengthRange = _error(
    "InvalidDatakeyLengthRange", "KMS.1901", 400, "datakey_length must be between 8 and 8192."
)
InvalidDatakeySpec = _error("InvalidDatakeySpec", "KMS.1902", 400, "key_spec must be AES_128 or AES_256.")
InvalidDatakeyLengthMultiple = _error(
    "InvalidDatakeyLengthMultiple", "KMS.1903", 400, "datakey_length must be a multiple of 8."
)
InvalidCipherText = _error("InvalidCipherText", "KMS.2201", 400, "Invalid cipher_text.")
InvalidDatakeyCipherLength = _error(
    "InvalidDatakeyCipherLength", "KMS.2202", 400, "Invalid datakey_cipher_length."
)
CipherLengthMismatch = _error(
    "CipherLengthMismatch", "KMS.2204", 400, "cipher_text does not match datakey_cipher_length."
)

# 401: the gateway's code for failed authentication (spec §F2, last paragraph)
Unauthenticated = _error("Unauthenticated", "APIGW.0301", 401, "Incorrect IAM authentication information.")


class IamUnauthorized(KmsError):
    """401 from the token endpoint, in IAM's own error shape ({"error": {code, message, title}})."""

    code: ClassVar[str] = "401"
    status: ClassVar[int] = 401
    default_message: ClassVar[str] = "The username or password is wrong."

    def body(self) -> dict[str, Any]:
        return {"error": {"code": 401, "message": self.message, "title": "Unauthorized"}}


# 403 (§F2)
AccessDenied = _error("AccessDenied", "KMS.0307", 403, "No access.")
# An IAM user's policies do not allow the operation: access-control §2.6 suggests KMS.0307 for a
# policy deny (README, choices); the message names the user, the action and the resource.
NotAuthorized = _error("NotAuthorized", "KMS.0307", 403, "Not authorized.")
# A key of another project (or domain), reached through a grant, whose grants do not unlock the
# operation: access-control §2.6 suggests KMS.0306 "no access to the key" for a foreign key.
NoGrant = _error("NoGrant", "KMS.0306", 403, "No access to the key.")
ProjectMismatch = _error(
    "ProjectMismatch", "KMS.0321", 403, "The project in the URL does not match the token."
)

# 404
KeyNotFound = _error("KeyNotFound", "KMS.0207", 404, "The key does not exist.")

UnknownVersion = _error("UnknownVersion", "KMS.0201", 404, "Unknown API version.")

# 405
MethodNotAllowed = _error("MethodNotAllowed", "KMS.0215", 405, "The request method is not supported.")

# 500 / 503: never carry the underlying cause to the caller
InternalError = _error("InternalError", "KMS.0101", 500, "KMS internal error.")
StorageError = _error("StorageError", "KMS.0102", 500, "KMS storage error.")
ServiceUnavailable = _error("ServiceUnavailable", "KMS.0104", 503, "The service is temporarily unavailable.")


class ConcurrentUpdate(Exception):
    """A conditional write lost a race. Retried by logic; never reaches the wire as-is."""


# 400, grants (§F2; access-control.md §3.4)
InvalidGrantOperations = _error(
    "InvalidGrantOperations", "KMS.2401", 400, "The operations must not be create-grant alone."
)
InvalidPrincipal = _error("InvalidPrincipal", "KMS.2402", 400, "Invalid user ID.")
TooManyGrantsOnKey = _error("TooManyGrantsOnKey", "KMS.2404", 400, "Too many grants on this CMK.")
InvalidGrantId = _error("InvalidGrantId", "KMS.2501", 400, "Invalid grant ID.")
GrantKeyMismatch = _error("GrantKeyMismatch", "KMS.2502", 400, "The grant_id and key_id do not match.")
