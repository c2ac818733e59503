"""The sealed state file: created once, unsealed later, refused (and left untouched) when anything is off."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from neo_service_layer.enclave.canonical import b64decode, b64encode
from neo_service_layer.enclave.fsutil import write_new_file
from neo_service_layer.enclave.protocol import UnsealFailed
from neo_service_layer.enclave.sealing import KeyFileProvider, PassphraseKeyProvider
from neo_service_layer.enclave.state import load_or_create_state, state_path


def _passphrase(state_dir: Path, value: str = "correct horse battery staple") -> PassphraseKeyProvider:
    return PassphraseKeyProvider(SecretStr(value), state_dir)


def _snapshot(state_dir: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in state_dir.iterdir() if p.is_file()}


def test_first_start_creates_later_starts_load_the_same_identity(short_dir: Path) -> None:
    state_dir = short_dir / "enclave"
    first = load_or_create_state(state_dir, _passphrase(state_dir))
    assert first.created
    assert state_dir.stat().st_mode & 0o777 == 0o700
    assert state_path(state_dir).stat().st_mode & 0o777 == 0o600
    again = load_or_create_state(state_dir, _passphrase(state_dir))
    assert not again.created
    assert again.identity.public == first.identity.public
    document = json.loads(state_path(state_dir).read_text())
    assert document["format"] == "nsl-enclave-state"
    assert document["sealing"] == "passphrase"
    # No private key appears in the clear.
    p256, k1 = first.identity.secrets()
    raw = state_path(state_dir).read_bytes()
    assert p256.hex().encode() not in raw
    assert b64encode(p256).encode() not in raw
    assert k1 not in raw


def test_wrong_passphrase_is_refused_and_nothing_is_written(short_dir: Path) -> None:
    load_or_create_state(short_dir, _passphrase(short_dir))
    before = _snapshot(short_dir)
    with pytest.raises(UnsealFailed, match="wrong passphrase or key file"):
        load_or_create_state(short_dir, _passphrase(short_dir, "wrong passphrase"))
    assert _snapshot(short_dir) == before


def test_wrong_key_file_is_refused(short_dir: Path) -> None:
    load_or_create_state(short_dir, KeyFileProvider(short_dir / "sealing.key"))
    other = short_dir / "other.key"
    write_new_file(other, os.urandom(32))
    before = _snapshot(short_dir)
    with pytest.raises(UnsealFailed, match="wrong passphrase or key file"):
        load_or_create_state(short_dir, KeyFileProvider(other))
    assert _snapshot(short_dir) == before


def test_tampered_blob_is_refused_and_left_as_is(short_dir: Path) -> None:
    load_or_create_state(short_dir, _passphrase(short_dir))
    path = state_path(short_dir)
    document = json.loads(path.read_text())
    blob = bytearray(b64decode(document["sealed"]))
    blob[20] ^= 0x80
    document["sealed"] = b64encode(bytes(blob))
    path.write_text(json.dumps(document))
    before = _snapshot(short_dir)
    with pytest.raises(UnsealFailed, match="modified or damaged"):
        load_or_create_state(short_dir, _passphrase(short_dir))
    assert _snapshot(short_dir) == before


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            lambda d: {**d, "sealing": "key-file"}, "configured for 'passphrase'", id="other-provider"
        ),
        pytest.param(lambda d: {**d, "version": 2}, "state version 2", id="future-version"),
        pytest.param(lambda d: {**d, "format": "other"}, "not an NSL enclave state", id="wrong-format"),
        pytest.param(lambda d: {**d, "sealed": "%%%"}, "not base64", id="blob-not-base64"),
        pytest.param(lambda d: [d], "not an NSL enclave state", id="not-an-object"),
    ],
)
def test_damaged_state_documents_are_refused(short_dir: Path, edit: object, message: str) -> None:
    load_or_create_state(short_dir, _passphrase(short_dir))
    path = state_path(short_dir)
    assert callable(edit)
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(UnsealFailed, match=message):
        load_or_create_state(short_dir, _passphrase(short_dir))


def test_state_that_is_not_json_is_refused(short_dir: Path) -> None:
    load_or_create_state(short_dir, _passphrase(short_dir))
    state_path(short_dir).write_bytes(b"\x00garbage")
    with pytest.raises(UnsealFailed, match="not JSON"):
        load_or_create_state(short_dir, _passphrase(short_dir))
    assert state_path(short_dir).read_bytes() == b"\x00garbage"


def test_new_files_are_never_overwritten(short_dir: Path) -> None:
    path = short_dir / "file"
    assert write_new_file(path, b"first")
    assert not write_new_file(path, b"second")
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in short_dir.iterdir()) == ["file"]  # no temporary files left


def test_loose_state_directory_is_tightened(short_dir: Path) -> None:
    state_dir = short_dir / "loose"
    state_dir.mkdir(mode=0o755)
    state_dir.chmod(0o755)
    load_or_create_state(state_dir, _passphrase(state_dir))
    assert state_dir.stat().st_mode & 0o777 == 0o700
