"""Envelope encryption of secret columns inside a snapshot.

Each export draws a fresh 256-bit data key; secret values are sealed with AES-256-GCM under it and
only the data key's *wrapped* form goes into the manifest. What wraps it is the cipher: AWS KMS (the
stack's key, in MWAA), a local key file (operators' CLI), or nothing at all when the caller says so
explicitly with `NoEncryption`.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mwaa_hibernate_snapshot.errors import CipherError, CipherMismatch

# A sealed value: "<TOKEN_PREFIX><urlsafe base64 of nonce + ciphertext + tag>". The prefix marks the
# format so a future scheme can coexist, and a plaintext value is never mistaken for a sealed one.
TOKEN_PREFIX = "mwh1:"
# A sealed value bound to where it belongs (AES-GCM associated data: table, row and column, or option name),
# so a value cannot be moved to another row or field without failing to open. Snapshots written before it
# carry TOKEN_PREFIX values, which still open.
BOUND_TOKEN_PREFIX = "mwh2:"
NONCE_BYTES = 12  # the GCM standard nonce; random per value, 2^-96 collision odds are negligible here
KEY_BYTES = 32
# Binds a KMS data key to its purpose and snapshot: Decrypt fails if either differs.
KMS_CONTEXT_PURPOSE = "snapshot-secrets"


class SecretBox(Protocol):
    """Seals and opens secret values with one snapshot's data key; `associated` binds a value to its place."""

    def seal(self, plaintext: str, associated: str | None = None) -> str: ...

    def open(self, token: str, associated: str | None = None) -> str: ...


class Cipher(Protocol):
    """How the data key of a snapshot is protected."""

    scheme: str

    def new_box(self, *, snapshot_id: str) -> tuple[SecretBox, dict[str, Any]]:
        """A box with a fresh data key, and the manifest's `encryption` block that lets restore reopen it."""
        ...

    def open_box(self, block: dict[str, Any], *, snapshot_id: str) -> SecretBox:
        """The box of an existing snapshot, from its manifest's `encryption` block."""
        ...


@dataclass(frozen=True)
class _AesGcmBox:
    key: bytes

    def seal(self, plaintext: str, associated: str | None = None) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(NONCE_BYTES)
        aad = None if associated is None else associated.encode("utf-8")
        sealed = AESGCM(self.key).encrypt(nonce, plaintext.encode("utf-8"), aad)
        prefix = TOKEN_PREFIX if associated is None else BOUND_TOKEN_PREFIX
        return prefix + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, associated: str | None = None) -> str:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if token.startswith(BOUND_TOKEN_PREFIX):
            if associated is None:
                raise CipherError("a sealed secret is bound to a place the reader did not name: refused")
            aad: bytes | None = associated.encode("utf-8")
            raw = base64.urlsafe_b64decode(token[len(BOUND_TOKEN_PREFIX) :])
        elif token.startswith(TOKEN_PREFIX):  # written before values were bound (still opens)
            aad, raw = None, base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :])
        else:
            raise CipherError("a secret in the snapshot is not sealed: the snapshot was altered or is not ours")
        try:
            return AESGCM(self.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad).decode("utf-8")
        except InvalidTag as exc:
            raise CipherError(
                "a sealed secret does not open with the snapshot's data key where it was found: it was altered or "
                "moved from another row or field"
            ) from exc


@dataclass(frozen=True)
class _PlainBox:
    def seal(self, plaintext: str, associated: str | None = None) -> str:
        return plaintext

    def open(self, token: str, associated: str | None = None) -> str:
        return token


class NoEncryption:
    """Secrets stored in plaintext. Only for tests and throwaway data, and only when asked for by name."""

    scheme = "none"

    def new_box(self, *, snapshot_id: str) -> tuple[SecretBox, dict[str, Any]]:
        return _PlainBox(), {"scheme": self.scheme}

    def open_box(self, block: dict[str, Any], *, snapshot_id: str) -> SecretBox:
        _expect_scheme(block, self.scheme)
        return _PlainBox()


class KeyFileCipher:
    """A 32-byte key in a local file (base64) wraps the data key. `generate(path)` creates one."""

    scheme = "key-file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @staticmethod
    def generate(path: str | os.PathLike[str]) -> Path:
        """Write a new random key file readable by its owner only."""
        target = Path(path)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
        return target

    def _key(self) -> bytes:
        try:
            key = base64.b64decode(self.path.read_text().strip(), validate=True)
        except (OSError, ValueError) as exc:
            raise CipherError(f"cannot read key file {self.path}: {exc}") from exc
        if len(key) != KEY_BYTES:
            raise CipherError(f"key file {self.path} must hold {KEY_BYTES} base64-encoded bytes, found {len(key)}")
        return key

    def _fingerprint(self, key: bytes) -> str:
        return hashlib.sha256(key).hexdigest()[:16]

    def new_box(self, *, snapshot_id: str) -> tuple[SecretBox, dict[str, Any]]:
        key = self._key()
        data_key = os.urandom(KEY_BYTES)
        wrapped = _AesGcmBox(key).seal(base64.b64encode(data_key).decode())
        block = {"scheme": self.scheme, "key_fingerprint": self._fingerprint(key), "encrypted_data_key": wrapped}
        return _AesGcmBox(data_key), block

    def open_box(self, block: dict[str, Any], *, snapshot_id: str) -> SecretBox:
        _expect_scheme(block, self.scheme)
        key = self._key()
        if block.get("key_fingerprint") != self._fingerprint(key):
            raise CipherMismatch(
                f"the snapshot was encrypted with another key file (fingerprint {block.get('key_fingerprint')}); "
                f"{self.path} has fingerprint {self._fingerprint(key)}: use the key file of the export"
            )
        return _AesGcmBox(base64.b64decode(_AesGcmBox(key).open(block["encrypted_data_key"])))


class KmsCipher:
    """AWS KMS wraps the data key (GenerateDataKey at export, Decrypt at restore).

    Parameters
    ----------
    key_id
        The KMS key (id, ARN or alias) for export. Restore reads the key from the manifest.
    client
        A boto3 KMS client; built lazily from the default session when omitted.
    """

    scheme = "kms"

    def __init__(self, key_id: str | None = None, *, client: Any = None, purpose: str = KMS_CONTEXT_PURPOSE) -> None:
        self.key_id = key_id
        self._client = client
        self.purpose = purpose

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("kms")
        return self._client

    def _context(self, snapshot_id: str) -> dict[str, str]:
        return {"mwaa-hibernate:purpose": self.purpose, "mwaa-hibernate:snapshot": snapshot_id}

    def new_box(self, *, snapshot_id: str) -> tuple[SecretBox, dict[str, Any]]:
        if not self.key_id:
            raise CipherError("no KMS key given for export: pass kms_key_id (--kms-key-id)")
        from botocore.exceptions import ClientError

        try:
            resp = self.client.generate_data_key(
                KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=self._context(snapshot_id)
            )
        except ClientError as exc:
            raise CipherError(f"KMS GenerateDataKey with key {self.key_id} failed: {exc}") from exc
        block = {
            "scheme": self.scheme,
            "kms_key_id": resp.get("KeyId", self.key_id),
            "encrypted_data_key": base64.b64encode(resp["CiphertextBlob"]).decode(),
            "encryption_context": self._context(snapshot_id),
        }
        return _AesGcmBox(resp["Plaintext"]), block

    def open_box(self, block: dict[str, Any], *, snapshot_id: str) -> SecretBox:
        _expect_scheme(block, self.scheme)
        from botocore.exceptions import ClientError

        # With a key given (the import DAG: the stack's key), only that key may open the data key: a manifest
        # naming another key (one its writer controls) is refused, not followed.
        if self.key_id and _key_of(block.get("kms_key_id")) != _key_of(self.key_id):
            raise CipherMismatch(
                f"the snapshot's data key is wrapped with KMS key {block.get('kms_key_id')}, not with {self.key_id}, "
                "the key this restore trusts: the snapshot was not written by this stack's export"
            )
        try:
            resp = self.client.decrypt(
                CiphertextBlob=base64.b64decode(block["encrypted_data_key"]),
                KeyId=self.key_id or block["kms_key_id"],
                EncryptionContext=self._context(snapshot_id),
            )
        except ClientError as exc:
            raise CipherError(
                f"KMS Decrypt of the snapshot's data key (key {block.get('kms_key_id')}) failed: {exc}; "
                "check that the key exists, is enabled, and that this role may use it"
            ) from exc
        return _AesGcmBox(resp["Plaintext"])


def _key_of(key: object) -> str:
    """A KMS key's id, whether given as the id or as its ARN (arn:aws:kms:<region>:<account>:key/<id>)."""
    text = str(key or "")
    return text.rsplit(":key/", 1)[-1]


# What to pass to open a snapshot, by the scheme its manifest names.
_HOW_TO_OPEN = {
    "kms": "restore with KMS access (--kms-key-id / KmsCipher); the manifest names the key",
    "key-file": "pass --key-file with the key file used at export (KeyFileCipher)",
    "none": "the snapshot holds no encrypted secrets: pass --no-encryption (NoEncryption)",
}


def _expect_scheme(block: dict[str, Any], scheme: str) -> None:
    found = block.get("scheme")
    if found != scheme:
        how = _HOW_TO_OPEN.get(str(found), "use the mwaa-hibernate release that wrote the snapshot")
        raise CipherMismatch(f"the snapshot's secrets use encryption scheme {found!r}, not {scheme!r}: {how}")
