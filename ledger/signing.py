"""Ed25519 signatures of sealed moves, with a key the database never holds.

The private key is read from the file named by ``LEDGER_SIGNING_KEY_FILE`` (PEM, PKCS#8) or
from the environment variable named by ``LEDGER_SIGNING_KEY_ENV`` (the same PEM text). A move
sealed while a key is configured records the key's fingerprint in its header (so the digest
covers which key was meant to sign it) and the signature of its digest beside it. Anyone with
the public key verifies the signatures offline; someone who can write the database but does
not hold the private key cannot produce a move, or rewrite one, that verifies.

What is signed is ``SIGNED_PREFIX + digest`` (ASCII), so a signature made here can never pass
for a signature of anything else made with the same key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger import config
from ledger.errors import LedgerError

SIGNED_PREFIX = b"ami-move-ledger/v1 move digest "


class SigningKeyError(LedgerError):
    """A configured or given key cannot be read."""


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``ed25519:<sha256 of the raw public key, hex>``: names the key, reveals nothing."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + sha256(raw).hexdigest()


@dataclass(frozen=True)
class Signer:
    """The configured private key and its fingerprint."""

    key: Ed25519PrivateKey
    fingerprint: str

    def sign(self, digest: str) -> str:
        """The hex signature of a move digest."""
        return self.key.sign(SIGNED_PREFIX + digest.encode("ascii")).hex()


def _private_key(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(
            f"{where} is not an unencrypted PEM private key: create one with "
            "`manage.py ledger_keygen`"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{where} is not an Ed25519 key: create one with ledger_keygen")
    return key


def configured_signer() -> Signer | None:
    """The signer of new moves, or None when no key is configured (moves are unsigned).

    Raises:
        SigningKeyError: a key is configured but cannot be read.
    """
    path, env = config.signing_key_file(), config.signing_key_env()
    if path:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise SigningKeyError(
                f"cannot read the signing key {path} ({exc.strerror}): fix LEDGER_SIGNING_KEY_FILE"
            ) from exc
        key = _private_key(pem, f"the signing key {path}")
    elif env and os.environ.get(env):
        key = _private_key(os.environ[env].encode(), f"the environment variable {env}")
    else:
        return None
    return Signer(key=key, fingerprint=fingerprint(key.public_key()))


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """A public key from a PEM file (or the public half of a private key file).

    Raises:
        SigningKeyError: the file cannot be read or holds no Ed25519 key.
    """
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read {path} ({exc.strerror}): check the path") from exc
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        key = _private_key(pem, str(path)).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} holds no Ed25519 public key")
    return key


def verify_signature(public_key: Ed25519PublicKey, digest: str, signature: str | None) -> bool:
    """True when ``signature`` (hex) is the key's signature of the move digest."""
    if not signature:
        return False
    try:
        public_key.verify(bytes.fromhex(signature), SIGNED_PREFIX + digest.encode("ascii"))
    except (InvalidSignature, ValueError):
        return False
    return True


def generate(private_path: Path, public_path: Path) -> str:
    """Write a new key pair (private key readable by its owner only). Returns its fingerprint.

    Raises:
        SigningKeyError: either file exists already (keys are never overwritten).
    """
    for path in (private_path, public_path):
        if path.exists():
            raise SigningKeyError(f"{path} exists: keys are never overwritten; pick a new path")
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return fingerprint(key.public_key())
