"""Client helpers for sealed secret values: sealing to a verified enclave key, opening as a recipient."""

from __future__ import annotations

import json
from typing import Any

import nacl.public
import pytest

from neo_service_layer.client.attestation import verify_attestation
from neo_service_layer.client.secrets import (
    RecipientKey,
    open_secret_envelope,
    open_secret_value,
    seal_secret_value,
    transport_key,
)
from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.canonical import b64decode, b64encode, canonical_json
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.measurement import compute_measurement
from neo_service_layer.enclave.opdefs.secrets import MAX_SECRET_BYTES
from neo_service_layer.enclave.tee.software import SoftwareBackend
from neo_service_layer.errors import AttestationInvalid, SecretSealingFailed

ACCOUNT = "acc_01TEST"


@pytest.fixture(scope="module")
def identity() -> Identity:
    return Identity.generate()


@pytest.fixture(scope="module")
def report(identity: Identity) -> dict[str, Any]:
    return build_report(identity, SoftwareBackend(), compute_measurement("software")).model_dump(mode="json")


def read_envelope(reader: RecipientKey, **changes: Any) -> str:
    document = {
        "format": "nsl-secret-read-v1",
        "account_id": ACCOUNT,
        "secret_id": "sec_01X",
        "name": "n",
        "version": 3,
        "value": b64encode(b"v"),
        **changes,
    }
    box = nacl.public.SealedBox(reader.private_key.public_key).encrypt(canonical_json(document))
    return b64encode(box)


@pytest.mark.parametrize(
    "target",
    ["report", "verified", "raw", "hex"],
    ids=["attestation-report", "verified-identity", "raw-key", "hex-key"],
)
def test_seal_opens_in_the_enclave_for_every_way_of_naming_it(
    identity: Identity, report: dict[str, Any], target: str
) -> None:
    targets: dict[str, Any] = {
        "report": report,
        "verified": verify_attestation(report, allow_software=True),
        "raw": identity.public.x25519,
        "hex": identity.public.x25519.hex(),
    }
    sealed = seal_secret_value(
        targets[target], ACCOUNT, "db", b"s3cret", cas=4, secret_id="sec_01DB", allow_software=True
    )
    document = json.loads(identity.open_sealed_box(b64decode(sealed)))
    assert document == {
        "format": "nsl-secret-write-v2",
        "account_id": ACCOUNT,
        "name": "db",
        "cas": 4,
        "secret_id": "sec_01DB",
        "value": b64encode(b"s3cret"),
    }


def test_a_creation_names_no_secret_id_and_two_seals_differ(identity: Identity) -> None:
    key = identity.public.x25519
    first = seal_secret_value(key, ACCOUNT, "db", b"s3cret", cas=0)
    document = json.loads(identity.open_sealed_box(b64decode(first)))
    assert (document["cas"], document["secret_id"]) == (0, None)
    assert seal_secret_value(key, ACCOUNT, "db", b"s3cret", cas=0) != first  # an ephemeral key each time


@pytest.mark.parametrize(
    ("edit", "allow_software", "message"),
    [
        pytest.param(lambda r: None, False, "software", id="software-not-allowed"),
        pytest.param(
            lambda r: r["identity"].update(x25519="11" * 32), True, "report_data", id="swapped-transport-key"
        ),
        pytest.param(
            lambda r: r["identity"].update(x25519="00" * 32), True, "all-zero", id="zero-transport-key"
        ),
        pytest.param(lambda r: r["identity"].pop("x25519"), True, "identity.x25519", id="no-transport-key"),
    ],
)
def test_seal_refuses_reports_that_do_not_verify(
    report: dict[str, Any], edit: Any, allow_software: bool, message: str
) -> None:
    tampered = json.loads(json.dumps(report))
    edit(tampered)
    with pytest.raises(AttestationInvalid, match=message):
        seal_secret_value(tampered, ACCOUNT, "db", b"x", cas=0, allow_software=allow_software)


@pytest.mark.parametrize(
    ("target", "value", "write", "message"),
    [
        pytest.param(b"\x01" * 31, b"x", {"cas": 0}, "32 bytes", id="short-key"),
        pytest.param("ab" * 33, b"x", {"cas": 0}, "32 bytes", id="long-hex-key"),
        pytest.param(
            b"\x09" * 32, b"x" * (MAX_SECRET_BYTES + 1), {"cas": 0}, "at most", id="value-too-large"
        ),
        pytest.param(b"\x09" * 32, b"x", {"cas": -1}, "cas", id="negative-cas"),
        pytest.param(b"\x09" * 32, b"x", {"cas": 2}, "secret_id", id="update-without-secret-id"),
        pytest.param(
            b"\x09" * 32, b"x", {"cas": 0, "secret_id": "sec_01X"}, "secret_id", id="creation-with-secret-id"
        ),
        pytest.param(b"\x09" * 32, b"x", {"cas": 1, "secret_id": "sec:1"}, "secret_id", id="bad-secret-id"),
    ],
)
def test_seal_refuses_bad_keys_values_and_writes(
    target: bytes | str, value: bytes, write: dict[str, Any], message: str
) -> None:
    with pytest.raises(SecretSealingFailed, match=message):
        seal_secret_value(target, ACCOUNT, "db", value, **write)


def test_open_checks_key_envelope_and_expectations() -> None:
    reader = RecipientKey.generate()
    sealed = read_envelope(reader)
    assert open_secret_value(reader, sealed, account_id=ACCOUNT, name="n", version=3) == b"v"
    assert open_secret_value(bytes(reader.private_key), b64decode(sealed)) == b"v"
    assert open_secret_envelope(reader, sealed).secret_id == "sec_01X"
    cases: list[tuple[Any, str, dict[str, Any], str]] = [
        (RecipientKey.generate(), sealed, {}, "does not open"),
        (reader, "%%%", {}, "does not open"),
        (reader, sealed[:-8] + "AAAAAAA=", {}, "does not open"),
        (reader, read_envelope(reader, format="nsl-secret-write-v1"), {}, "not an nsl-secret-read-v1"),
        (reader, sealed, {"account_id": "acc_other"}, "another account id"),
        (reader, sealed, {"name": "m"}, "another name"),
        (reader, sealed, {"version": 2}, "another version"),
        (b"short", sealed, {}, "32 bytes"),
    ]
    for key, box, expected, message in cases:
        with pytest.raises(SecretSealingFailed, match=message):
            open_secret_value(key, box, **expected)


def test_recipient_key_repr_is_masked_and_round_trips() -> None:
    reader = RecipientKey.generate()
    private = bytes(reader.private_key)
    assert private.hex() not in repr(reader)
    assert reader.public_hex in repr(reader)
    assert RecipientKey.from_bytes(private).public_hex == reader.public_hex
    assert transport_key(reader.public_hex) == bytes.fromhex(reader.public_hex)
