"""Credentials of account storages, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The Fernet key is derived with HKDF-SHA256 from the server's storage secret
(``Settings.secret("storage-key", settings.storage.encryption_key)``), so any string of enough
entropy works as the configured key. Changing that secret makes stored credentials unreadable:
the storages must then be re-created or patched with their credentials.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from photostage.contract.errors import INTERNAL, PhotostageError

HKDF_INFO = b"photostage storage credentials v1"


def derive_fernet_key(secret: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(derived)


class CredentialCipher:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the storage encryption secret is empty")
        self._fernet = Fernet(derive_fernet_key(secret))

    def encrypt(self, credentials: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            plain = self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken:
            raise PhotostageError(
                INTERNAL,
                message="Stored storage credentials cannot be decrypted (was storage.encryption_key "
                "changed?). Update the storage with its credentials.",
            ) from None
        return dict(json.loads(plain))
