"""Encryption at rest for small secrets (the teams' EvoLink keys).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, wrapped in MultiFernet
so keys can rotate: the first key of STUDIO_ENCRYPTION_KEYS encrypts, every
key decrypts. Without STUDIO_ENCRYPTION_KEYS a key derived from SECRET_KEY is
used. That derived key is always kept last for decryption, so a deployment that
starts setting STUDIO_ENCRYPTION_KEYS can still read what it stored before,
until `manage.py rotatekeys` has re-encrypted everything with the new key.
The keys derived from SECRET_KEY_FALLBACKS come after it: a rotated SECRET_KEY
still reads what the old one encrypted (`decrypt_current` says so, and the team
key is re-encrypted with the current key when next used).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_HKDF_INFO = b"omni-studio/team-api-keys/v1"


class DecryptionError(ValueError):
    """The value was not encrypted by any of the configured keys (or was altered)."""


def derived_key(secret: str) -> bytes:
    """A Fernet key from SECRET_KEY: HKDF-SHA256, urlsafe base64, as Fernet wants."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


def _fernets() -> list[Fernet]:
    fernets = []
    for position, key in enumerate(settings.STUDIO_ENCRYPTION_KEYS, start=1):
        try:
            fernets.append(Fernet(key.strip().encode()))
        except ValueError:
            # Never print the key itself, only where it is.
            raise ImproperlyConfigured(
                f"STUDIO_ENCRYPTION_KEYS entry {position} is not a Fernet key "
                "(make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')."
            ) from None
    fernets.append(Fernet(derived_key(settings.SECRET_KEY)))
    fernets.extend(Fernet(derived_key(old)) for old in getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    return fernets


def encrypt(plaintext: str) -> str:
    return MultiFernet(_fernets()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return MultiFernet(_fernets()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("no configured encryption key can decrypt this value") from None


def decrypt_current(token: str) -> tuple[str, bool]:
    """The secret, and whether the current (first) key encrypted it: if not, `rotate` it."""
    first, *others = _fernets()
    try:
        return first.decrypt(token.encode()).decode(), True
    except InvalidToken:
        pass
    if others:
        try:
            return MultiFernet(others).decrypt(token.encode()).decode(), False
        except InvalidToken:
            pass
    raise DecryptionError("no configured encryption key can decrypt this value")


def rotate(token: str) -> str:
    """The same secret, re-encrypted with the first (current) key."""
    try:
        return MultiFernet(_fernets()).rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("no configured encryption key can decrypt this value") from None
