"""The secret box's kept decryptions: the same answers as decrypting, Fernet
asked once per ciphertext, a bounded memory, and never a stale secret."""

from __future__ import annotations

import pytest

from bridge.auth import secrets
from bridge.auth.secrets import SecretBox


class CountingFernet:
    """Fernet, counting its decryptions."""

    def __init__(self, fernet):
        self.fernet = fernet
        self.decrypted = 0

    def encrypt(self, data: bytes) -> bytes:
        return self.fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        self.decrypted += 1
        return self.fernet.decrypt(token)


@pytest.fixture
def box():
    box = SecretBox(None, "test-secret-key")
    box._fernet = CountingFernet(box._fernet)
    return box


def test_a_kept_secret_is_decrypted_once(box):
    token = box.encrypt("bbs_first")
    assert box.decrypt_kept(token) == "bbs_first"
    assert box.decrypt_kept(token) == "bbs_first"
    assert box._fernet.decrypted == 1


def test_a_rotated_secret_is_read_at_once(box):
    """A new secret is a new ciphertext: the old answer is never given for it."""
    old = box.encrypt("bbs_old")
    assert box.decrypt_kept(old) == "bbs_old"
    assert box.decrypt_kept(box.encrypt("bbs_new")) == "bbs_new"


def test_the_box_keeps_a_bounded_number_of_secrets(box, monkeypatch):
    monkeypatch.setattr(secrets, "KEPT_SECRETS", 3)
    tokens = [box.encrypt(f"bbs_{n}") for n in range(5)]
    for n, token in enumerate(tokens):
        assert box.decrypt_kept(token) == f"bbs_{n}"
    assert len(box._kept) == 3
    box._fernet.decrypted = 0
    assert box.decrypt_kept(tokens[-1]) == "bbs_4"  # the newest is kept
    assert box._fernet.decrypted == 0
    assert box.decrypt_kept(tokens[0]) == "bbs_0"  # the oldest was let go
    assert box._fernet.decrypted == 1


def test_an_unreadable_secret_is_refused_every_time(box):
    other = SecretBox(None, "another-key").encrypt("bbs_elsewhere")
    for _ in range(2):
        with pytest.raises(ValueError, match="cannot be decrypted"):
            box.decrypt_kept(other)
    assert box._kept == {}
