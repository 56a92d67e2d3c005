"""Encryption of secrets kept in the database (site secrets, the Stripe key).

Fernet (AES + HMAC, from ``cryptography``). The key is ``BRIDGE_ENCRYPTION_KEY``
(a Fernet key) or, when unset, derived from ``BRIDGE_SECRET_KEY``: changing
that key then makes the stored secrets unreadable, so production sets its own.
"""

from __future__ import annotations

import base64
import hashlib
import threading

from cryptography.fernet import Fernet, InvalidToken

KEPT_SECRETS = 16_384
"""How many decrypted secrets ``decrypt_kept`` keeps per box: every site of
a large agency (issue 18: 10,000) in a few MB per process."""


class SecretBox:
    def __init__(self, encryption_key: str | None, secret_key: str):
        if encryption_key:
            key = encryption_key.encode()
        else:
            digest = hashlib.sha256(b"billing-bridge/secret-box/" + secret_key.encode()).digest()
            key = base64.urlsafe_b64encode(digest)
        self._fernet = Fernet(key)
        # ciphertext -> plaintext, oldest first (dicts keep insertion order).
        self._kept: dict[str, str] = {}
        self._kept_lock = threading.Lock()

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

    def decrypt_kept(self, token: str) -> str:
        """``decrypt``, remembering the last ``KEPT_SECRETS`` answers.

        Every signed request of a site decrypts its secret: Fernet's HMAC
        and AES cost more than the rest of the signature check. Keyed by the
        ciphertext, an answer can never be stale: a rotated secret is a new
        ciphertext (and the old one's entry simply ages out). The oldest
        entry goes first once the box is full."""
        kept = self._kept.get(token)
        if kept is not None:
            return kept
        secret = self.decrypt(token)
        with self._kept_lock:
            if len(self._kept) >= KEPT_SECRETS:
                self._kept.pop(next(iter(self._kept)), None)
            self._kept[token] = secret
        return secret
