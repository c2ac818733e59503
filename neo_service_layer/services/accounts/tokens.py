"""Short-lived JWT bearer tokens for operators, signed with the platform's Ed25519 key (RFC 8037 EdDSA).

The signing key lives in a 0600 PEM file under the data directory (or ``NSL_JWT_KEY_FILE``); every
API replica reads the same file. Tokens carry the account, role and scopes of the credential that
asked for them, never more, and expire after at most ``jwt_max_ttl_seconds``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Role
from neo_service_layer.enclave.fsutil import PRIVATE_FILE_MODE, write_new_file
from neo_service_layer.errors import CredentialExpired, Unauthenticated, ValidationFailed
from neo_service_layer.services.accounts.principal import Principal

ALGORITHM = "EdDSA"
AUDIENCE = "nsl-api"
ACTOR_PREFIX = "jwt:"
KEY_FILE_MODE = PRIVATE_FILE_MODE


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int


class TokenSigner:
    """Issues and verifies the platform's JWTs."""

    def __init__(self, private_key: Ed25519PrivateKey, issuer: str, max_ttl_seconds: int) -> None:
        self._private_key = private_key
        self._public_key: Ed25519PublicKey = private_key.public_key()
        self.issuer = issuer
        self.max_ttl_seconds = max_ttl_seconds
        raw = self._public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"TokenSigner(kid={self.key_id!r})"

    @classmethod
    def from_file(cls, path: Path, issuer: str, max_ttl_seconds: int) -> TokenSigner:
        """Load the key from ``path``, creating it (mode 0600) on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            # Written whole, then linked into place: workers starting at once never overwrite each
            # other's key, nor read one that is half written (that failed a worker's start).
            write_new_file(path, pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValidationFailed(f"{path} does not hold an Ed25519 private key")
        return cls(key, issuer, max_ttl_seconds)

    def issue(self, principal: Principal, ttl_seconds: int) -> IssuedToken:
        """A token for ``principal``, valid for ``ttl_seconds`` (capped at the configured maximum)."""
        if not 1 <= ttl_seconds <= self.max_ttl_seconds:
            raise ValidationFailed(f"ttl_seconds must be between 1 and {self.max_ttl_seconds}")
        now = utcnow()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            # A token exchanged for another token keeps the original subject (no "jwt:jwt:..." chains).
            "sub": principal.actor.removeprefix(ACTOR_PREFIX),
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=ttl_seconds),
            "jti": secrets.token_hex(16),
            "nsl_account": principal.account_id,
            "nsl_role": principal.role.value,
            "nsl_scopes": list(principal.scopes),
            "nsl_cred": principal.credential_id,
        }
        token = jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.key_id})
        return IssuedToken(token, ttl_seconds)

    def verify(self, token: str) -> Principal:
        """The principal of a valid token, or Unauthenticated / CredentialExpired."""
        return self.verify_with_expiry(token)[0]

    def verify_with_expiry(self, token: str) -> tuple[Principal, datetime]:
        """The principal of a valid token and when the token expires."""
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise CredentialExpired("bearer token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid bearer token") from exc
        try:
            principal = Principal(
                account_id=str(claims["nsl_account"]),
                role=Role(claims["nsl_role"]),
                scopes=tuple(str(s) for s in claims["nsl_scopes"]),
                credential_id=str(claims["nsl_cred"]),
                actor=f"{ACTOR_PREFIX}{claims['sub']}",
            )
            return principal, datetime.fromtimestamp(int(claims["exp"]), UTC)
        except (KeyError, ValueError, TypeError, OverflowError) as exc:
            raise Unauthenticated("bearer token lacks NSL claims") from exc

    def jwks(self) -> dict[str, Any]:
        """The public key as a JSON Web Key Set (RFC 8037 OKP)."""
        jwk = jwt.algorithms.OKPAlgorithm.to_jwk(self._public_key, as_dict=True)
        jwk.update({"kid": self.key_id, "use": "sig", "alg": ALGORITHM})
        return {"keys": [jwk]}
