"""A local certificate authority and a server certificate it issued: HTTPS on a machine without the
internet (a devnet's data sources, the oracle's tests and benchmark).

The oracle's fetcher verifies certificates and host names always; a devnet points it at this CA with
``NSL_ORACLE_CA_FILE`` (:meth:`LocalPKI.write`). Keys are P-256, made with ``cryptography``; the
certificates last a day, which is longer than any devnet or test run.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES: Final = ("localhost",)
DEFAULT_ADDRESSES: Final = ("127.0.0.1", "::1")
VALIDITY: Final = dt.timedelta(days=1)

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass(frozen=True)
class LocalPKI:
    """A CA and one server certificate for some names and addresses, in PEM (the leaf also in DER)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    leaf_der: bytes

    @classmethod
    def issue(
        cls,
        names: Sequence[str] = DEFAULT_NAMES,
        addresses: Sequence[str | IPAddress] = DEFAULT_ADDRESSES,
        *,
        validity: dt.timedelta = VALIDITY,
    ) -> Self:
        """A new CA and a certificate it issued for ``names`` and ``addresses``, valid for ``validity``."""
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name("NSL local CA"))
            .issuer_name(_name("NSL local CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
        sans += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0] if names else str(addresses[0])))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + validity)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        return cls(
            ca_pem=ca.public_bytes(serialization.Encoding.PEM),
            cert_pem=leaf.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            leaf_der=leaf.public_bytes(serialization.Encoding.DER),
        )

    def write(self, directory: Path) -> tuple[Path, Path, Path]:
        """``ca.pem``, ``cert.pem`` (leaf then CA) and ``key.pem`` (mode 0600) in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        ca, cert, key = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
        ca.write_bytes(self.ca_pem)
        cert.write_bytes(self.cert_pem + self.ca_pem)
        key.touch(mode=0o600)
        key.write_bytes(self.key_pem)
        return ca, cert, key

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only, TLS 1.2 at least."""
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def server_context(self, directory: str | Path) -> ssl.SSLContext:
        """A server context with the certificate (files written to ``directory``)."""
        _, cert, key = self.write(Path(directory))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context
