"""Password hashing (Argon2id, a deliberately slow hash) and strength."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

_hasher = PasswordHasher()

MIN_LENGTH = 10
# zxcvbn's score (0-4): 3 is "safely unguessable" (about 10^8 guesses and
# more), what its authors suggest for an account worth protecting.
MIN_SCORE = 3
# zxcvbn's time grows with the length; beyond this it is slow for nothing.
MAX_CHECKED = 100


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; never raises for a bad or missing hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def weakness(password: str, related: tuple[str, ...] = ()) -> str | None:
    """Why ``password`` is too weak to protect a login, else None: shorter
    than ``MIN_LENGTH``, or easy to guess by zxcvbn's estimate (common
    passwords, words, dates, keyboard patterns, and the ``related`` words:
    the person's name, email, company). The reason is zxcvbn's English
    warning, or a generic one; callers word it for people themselves."""
    if len(password) < MIN_LENGTH:
        return "too_short"
    result = zxcvbn(password[:MAX_CHECKED], user_inputs=[word for word in related if word])
    if result["score"] < MIN_SCORE:
        return "too_guessable"
    return None
