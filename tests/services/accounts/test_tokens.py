"""The platform's JWT signer: EdDSA tokens (RFC 8037), short-lived, never more than the credential behind."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Role
from neo_service_layer.errors import CredentialExpired, Unauthenticated, ValidationFailed
from neo_service_layer.services.accounts.principal import Principal
from neo_service_layer.services.accounts.tokens import ALGORITHM, AUDIENCE, KEY_FILE_MODE, TokenSigner

ISSUER = "nsl-test"
VIEWER = Principal("acc_1", Role.VIEWER, ("audit:read",), "key_1", "api_key:key_1")


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signer(key: Ed25519PrivateKey) -> TokenSigner:
    return TokenSigner(key, ISSUER, max_ttl_seconds=600)


def test_issue_and_verify_round_trip(signer: TokenSigner) -> None:
    issued = signer.issue(VIEWER, 60)
    assert issued.expires_in == 60
    principal, expires_at = signer.verify_with_expiry(issued.token)
    assert principal == Principal("acc_1", Role.VIEWER, ("audit:read",), "key_1", "jwt:api_key:key_1")
    assert utcnow() + timedelta(seconds=55) < expires_at <= utcnow() + timedelta(seconds=60)
    assert signer.verify(issued.token) == principal


def test_a_token_for_a_token_keeps_the_subject(signer: TokenSigner) -> None:
    first = signer.verify(signer.issue(VIEWER, 60).token)
    second = signer.verify(signer.issue(first, 60).token)
    assert second.actor == "jwt:api_key:key_1"


@pytest.mark.parametrize("ttl", [0, -1, 601], ids=["zero", "negative", "above-max"])
def test_ttl_out_of_bounds(signer: TokenSigner, ttl: int) -> None:
    with pytest.raises(ValidationFailed):
        signer.issue(VIEWER, ttl)


def _claims(**override: object) -> dict[str, object]:
    now = utcnow()
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "api_key:key_1",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=1),
        "nsl_account": "acc_1",
        "nsl_role": "viewer",
        "nsl_scopes": ["audit:read"],
        "nsl_cred": "key_1",
    }
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        (_claims(exp=utcnow() - timedelta(seconds=1)), CredentialExpired),
        (_claims(nbf=utcnow() + timedelta(minutes=5)), Unauthenticated),
        (_claims(aud="other"), Unauthenticated),
        (_claims(iss="other"), Unauthenticated),
        (_claims(sub=None), Unauthenticated),
        (_claims(exp=None), Unauthenticated),
        (_claims(nsl_role="emperor"), Unauthenticated),
        (_claims(nsl_cred=None), Unauthenticated),
        (_claims(nsl_scopes=7), Unauthenticated),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "audience",
        "issuer",
        "no-subject",
        "no-expiry",
        "unknown-role",
        "no-credential",
        "scopes-not-a-list",
    ],
)
def test_invalid_claims_are_refused(
    signer: TokenSigner, key: Ed25519PrivateKey, claims: dict[str, object], error: type[Exception]
) -> None:
    token = jwt.encode(claims, key, algorithm=ALGORITHM)
    with pytest.raises(error):
        signer.verify(token)


def test_a_token_of_another_key_is_refused(signer: TokenSigner) -> None:
    other = TokenSigner(Ed25519PrivateKey.generate(), ISSUER, 600)
    with pytest.raises(Unauthenticated):
        signer.verify(other.issue(VIEWER, 60).token)


def test_jwks_verifies_tokens_and_holds_no_private_part(signer: TokenSigner) -> None:
    token = signer.issue(VIEWER, 60).token
    jwks = signer.jwks()
    (jwk,) = jwks["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"], jwk["kid"]) == (
        "OKP",
        "Ed25519",
        "EdDSA",
        "sig",
        signer.key_id,
    )
    assert "d" not in jwk
    public = jwt.PyJWK.from_dict(jwk)
    assert jwt.decode(token, public, algorithms=[ALGORITHM], audience=AUDIENCE)["nsl_cred"] == "key_1"
    assert jwt.get_unverified_header(token)["kid"] == signer.key_id


def test_repr_shows_only_the_key_id(signer: TokenSigner, key: Ed25519PrivateKey) -> None:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert repr(signer) == f"TokenSigner(kid={signer.key_id!r})"
    assert raw.hex() not in repr(signer)


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "jwt.pem"
    first = TokenSigner.from_file(path, ISSUER, 600)
    assert stat.S_IMODE(path.stat().st_mode) == KEY_FILE_MODE
    second = TokenSigner.from_file(path, ISSUER, 600)
    assert second.key_id == first.key_id
    assert second.verify(first.issue(VIEWER, 60).token).account_id == "acc_1"


def test_a_key_file_of_another_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jwt.pem"
    path.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValidationFailed):
        TokenSigner.from_file(path, ISSUER, 600)


def test_processes_starting_at_once_all_load_the_one_key_written(tmp_path: Path) -> None:
    """Workers started together each call from_file on a fresh data directory: none may read the key
    file while another is still writing it (a half-written PEM failed a worker's start), and all end
    with the same key. Threads released together by a barrier race as the processes would."""
    rounds, racers = 40, 6
    for round_ in range(rounds):
        path = tmp_path / str(round_) / "jwt.pem"
        barrier = threading.Barrier(racers)

        def load(path: Path = path, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return TokenSigner.from_file(path, ISSUER, 600).key_id

        with ThreadPoolExecutor(racers) as pool:
            key_ids = set(pool.map(lambda _: load(), range(racers)))
        assert len(key_ids) == 1
        assert stat.S_IMODE(path.stat().st_mode) == KEY_FILE_MODE
        assert [p.name for p in path.parent.iterdir()] == ["jwt.pem"]  # no temporary file left
