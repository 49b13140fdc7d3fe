"""Envelope encryption of secrets: KMS data keys bound to the snapshot, key files, explicit plaintext."""

from __future__ import annotations

import base64

import boto3
import pytest
from mwaa_hibernate_snapshot import CipherError, CipherMismatch, KeyFileCipher, KmsCipher, NoEncryption

SECRET = 'p@ss,w"ord\nwith é 漢 and a very long tail ' + "x" * 5000


def test_kms_data_key_round_trip(kms_key):
    kms = boto3.client("kms")
    box, block = KmsCipher(kms_key, client=kms).new_box(snapshot_id="20261124T190000Z")
    sealed = box.seal(SECRET)
    assert SECRET not in sealed and sealed.startswith("mwh1:")
    assert block["scheme"] == "kms" and "Plaintext" not in block
    reopened = KmsCipher(client=kms).open_box(block, snapshot_id="20261124T190000Z")
    assert reopened.open(sealed) == SECRET


def test_kms_data_key_is_bound_to_its_snapshot(kms_key):
    _, block = KmsCipher(kms_key).new_box(snapshot_id="20261124T190000Z")
    with pytest.raises(CipherError, match="KMS Decrypt"):
        KmsCipher().open_box(block, snapshot_id="20261125T190000Z")


def test_kms_export_needs_a_key():
    with pytest.raises(CipherError, match="no KMS key"):
        KmsCipher().new_box(snapshot_id="x")


def test_key_file_round_trip_and_wrong_key(tmp_path):
    cipher = KeyFileCipher(KeyFileCipher.generate(tmp_path / "a.key"))
    assert (tmp_path / "a.key").stat().st_mode & 0o777 == 0o600
    box, block = cipher.new_box(snapshot_id="s")
    sealed = box.seal(SECRET)
    assert cipher.open_box(block, snapshot_id="s").open(sealed) == SECRET
    other = KeyFileCipher(KeyFileCipher.generate(tmp_path / "b.key"))
    with pytest.raises(CipherMismatch, match="another key file"):
        other.open_box(block, snapshot_id="s")


def test_tampered_secret_is_detected(tmp_path):
    cipher = KeyFileCipher(KeyFileCipher.generate(tmp_path / "k"))
    box, _ = cipher.new_box(snapshot_id="s")
    raw = bytearray(base64.urlsafe_b64decode(box.seal("secret")[5:]))
    raw[-1] ^= 1
    with pytest.raises(CipherError, match="altered"):
        box.open("mwh1:" + base64.urlsafe_b64encode(bytes(raw)).decode())


def test_scheme_mismatch_says_what_to_pass(tmp_path):
    _, block = NoEncryption().new_box(snapshot_id="s")
    with pytest.raises(CipherMismatch, match="--no-encryption"):
        KeyFileCipher(KeyFileCipher.generate(tmp_path / "k")).open_box(block, snapshot_id="s")
    _, kms_block = KeyFileCipher(tmp_path / "k").new_box(snapshot_id="s")
    with pytest.raises(CipherMismatch, match="--key-file"):
        KmsCipher().open_box(kms_block, snapshot_id="s")


def test_a_restore_given_the_stacks_key_opens_only_data_keys_wrapped_with_it(kms_key):
    """The manifest is data: one naming another key (its writer's own) is refused, not followed (issue 11)."""
    kms = boto3.client("kms")
    other = kms.create_key(Description="someone else's")["KeyMetadata"]["Arn"]
    _, block = KmsCipher(other, client=kms).new_box(snapshot_id="20261124T190000Z")

    with pytest.raises(CipherMismatch, match="not with"):
        KmsCipher(kms_key, client=kms).open_box(block, snapshot_id="20261124T190000Z")
    key_id = kms_key.rsplit("/", 1)[-1]
    _, ours = KmsCipher(kms_key, client=kms).new_box(snapshot_id="20261124T190000Z")
    assert KmsCipher(key_id, client=kms).open_box(ours, snapshot_id="20261124T190000Z")  # id or ARN alike
