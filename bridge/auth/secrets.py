"""Encryption of secrets kept in the database (site secrets, the Stripe key).

Fernet (AES + HMAC, from ``cryptography``). The key is ``BRIDGE_ENCRYPTION_KEY``
(a Fernet key) or, when unset, derived from ``BRIDGE_SECRET_KEY``: changing
that key then makes the stored secrets unreadable, so production sets its own.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, encryption_key: str | None, secret_key: str):
        if encryption_key:
            key = encryption_key.encode()
        else:
            digest = hashlib.sha256(b"billing-bridge/secret-box/" + secret_key.encode()).digest()
            key = base64.urlsafe_b64encode(digest)
        self._fernet = Fernet(key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "a stored secret cannot be decrypted: BRIDGE_ENCRYPTION_KEY "
                "(or BRIDGE_SECRET_KEY) changed since it was saved"
            ) from exc
