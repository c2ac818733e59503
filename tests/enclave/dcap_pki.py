"""A synthetic Intel DCAP world for tests: a private root CA, PCK chain, collateral, and SGX/TDX quotes.

NOT real Intel data and not a fake of dcap-qvl: every certificate, CRL, TCB info, QE identity and quote
is built here, from the layouts of Intel's "SGX ECDSA Quote Library API" (quote v3/v4; v5 with a TD
Report 1.5 as Intel's QVL parses it, ``QuoteVerification/Quote.cpp``), the "SGX PCK Certificate and
CRL Profile" (the SGX extension, OID 1.2.840.113741.1.13.1) and the PCS API (TCB info v3, QE identity
v2), and signed with fresh keys. dcap-qvl then verifies it against our root with
``verify_with_root_ca`` — the same code path as with Intel's root — so tests can check the positive
case and each way a quote can fail. Real quotes from Intel hardware are in tests/enclave/real_quotes.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

import dcap_qvl
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
TEE_SGX = 0x00000000
TEE_TDX = 0x00000081
SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
FMSPC = bytes.fromhex("00906ED50000")
PCE_ID = bytes(2)
CPU_SVN = bytes([3] * 16)
PCE_SVN = 13
QE_MRSIGNER = bytes(range(32))
QE_ISVPRODID = 1
QE_ISVSVN = 8
QE_AUTH_DATA = bytes(range(32))
# TEE_TCB_SVN: byte 0 is the TDX module's ISVSVN, byte 1 its major version; version 0 means "no
# per-version module identity", which keeps the TCB info small.
TEE_TCB_SVN = bytes([1, 0] + [1] * 14)
# TD Report 1.5 (quote v5, body type 3): the module's SVN after a TD-preserving update, and no service TD.
TEE_TCB_SVN_2 = bytes([2, 0] + [1] * 14)
TD_REPORT15_BODY_TYPE = 3


# --- minimal DER (X.690) for the SGX extension ---


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + content


def _oid(dotted: str) -> bytes:
    parts = [int(part) for part in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, body)


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big"))


def _seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def sgx_extension(fmspc: bytes = FMSPC, cpu_svn: bytes = CPU_SVN, pce_svn: int = PCE_SVN) -> bytes:
    """The PCK certificate's SGX extension value (Intel PCK Certificate Profile, §1.5)."""
    tcb = [_seq(_oid(f"{SGX_EXTENSION_OID}.2.{i + 1}"), _int(svn)) for i, svn in enumerate(cpu_svn)]
    tcb.append(_seq(_oid(f"{SGX_EXTENSION_OID}.2.17"), _int(pce_svn)))
    tcb.append(_seq(_oid(f"{SGX_EXTENSION_OID}.2.18"), _der(0x04, cpu_svn)))
    return _seq(
        _seq(_oid(f"{SGX_EXTENSION_OID}.1"), _der(0x04, bytes(16))),  # PPID
        _seq(_oid(f"{SGX_EXTENSION_OID}.2"), _seq(*tcb)),
        _seq(_oid(f"{SGX_EXTENSION_OID}.3"), _der(0x04, PCE_ID)),
        _seq(_oid(f"{SGX_EXTENSION_OID}.4"), _der(0x04, fmspc)),
        _seq(_oid(f"{SGX_EXTENSION_OID}.5"), _der(0x0A, b"\x00")),  # SGX type: Standard
    )


# --- keys, certificates, CRLs ---


def _raw_sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _raw_public(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )[1:]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
    *,
    ca: bool,
    extra: x509.ExtensionType | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if extra is not None:
        builder = builder.add_extension(extra, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _crl(issuer: str, key: ec.EllipticCurvePrivateKey, now: dt.datetime, revoked: list[int]) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_name(issuer))
        .last_update(now - dt.timedelta(hours=1))
        .next_update(now + dt.timedelta(days=30))
        .add_extension(x509.CRLNumber(1), critical=False)
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - dt.timedelta(hours=2))
            .build()
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- quote layout (Intel SGX ECDSA Quote Library API, "Quote Format"; all integers little-endian) ---


def sgx_report_body(
    report_data: bytes,
    *,
    mr_enclave: bytes = b"\x11" * 32,
    mr_signer: bytes = b"\x22" * 32,
    attributes: bytes = bytes([0x05]) + bytes(15),  # INIT | MODE64BIT, not DEBUG (0x02)
    isv_prod_id: int = 0,
    isv_svn: int = 0,
    misc_select: int = 0,
) -> bytes:
    """The 384-byte SGX REPORTBODY."""
    assert len(report_data) == 64
    return (
        CPU_SVN
        + struct.pack("<I", misc_select)
        + bytes(28)
        + attributes
        + mr_enclave
        + bytes(32)
        + mr_signer
        + bytes(96)
        + struct.pack("<HH", isv_prod_id, isv_svn)
        + bytes(60)
        + report_data
    )


def td_report_body(report_data: bytes, *, mr_td: bytes = b"\x33" * 48) -> bytes:
    """The 584-byte TD quote body (TDX 1.0)."""
    assert len(report_data) == 64
    td_attributes = bytes([0, 0, 0, 0x10, 0, 0, 0, 0])  # SEPT_VE_DISABLE, not DEBUG
    return (
        TEE_TCB_SVN
        + bytes(48) * 2  # MRSEAM, MRSIGNERSEAM
        + bytes(8)  # SEAMATTRIBUTES
        + td_attributes
        + bytes(8)  # XFAM
        + mr_td
        + bytes(48) * 3  # MRCONFIGID, MROWNER, MROWNERCONFIG
        + bytes(48) * 4  # RTMR0..3
        + report_data
    )


def _header(version: int, tee_type: int) -> bytes:
    return struct.pack("<HHIHH", version, 2, tee_type, QE_ISVSVN, PCE_SVN) + INTEL_QE_VENDOR_ID + bytes(20)


def _cert_data(cert_type: int, body: bytes) -> bytes:
    return struct.pack("<HI", cert_type, len(body)) + body


@dataclass
class DcapWorld:
    """A root CA and everything under it, plus helpers to make quotes and collateral."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    root_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    pck_ca_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    pck_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    tcb_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    attestation_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def __post_init__(self) -> None:
        self.root = _cert(
            "Test SGX Root CA", self.root_key, "Test SGX Root CA", self.root_key, self.now, ca=True
        )
        self.pck_ca = _cert(
            "Test SGX PCK CA", self.pck_ca_key, "Test SGX Root CA", self.root_key, self.now, ca=True
        )
        self.pck = _cert(
            "Test SGX PCK Certificate",
            self.pck_key,
            "Test SGX PCK CA",
            self.pck_ca_key,
            self.now,
            ca=False,
            extra=x509.UnrecognizedExtension(x509.ObjectIdentifier(SGX_EXTENSION_OID), sgx_extension()),
        )
        self.tcb_signer = _cert(
            "Test SGX TCB Signing", self.tcb_key, "Test SGX Root CA", self.root_key, self.now, ca=False
        )

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    @property
    def unix_now(self) -> int:
        return int(self.now.timestamp())

    # quotes

    def _qe_auth(self) -> bytes:
        qe_report_data = hashlib.sha256(_raw_public(self.attestation_key) + QE_AUTH_DATA).digest() + bytes(32)
        qe_report = sgx_report_body(
            qe_report_data,
            mr_signer=QE_MRSIGNER,
            attributes=bytes([0x11]) + bytes(15),
            isv_prod_id=QE_ISVPRODID,
            isv_svn=QE_ISVSVN,
        )
        chain = _pem(self.pck, self.pck_ca, self.root)
        return (
            qe_report
            + _raw_sign(self.pck_key, qe_report)
            + struct.pack("<H", len(QE_AUTH_DATA))
            + QE_AUTH_DATA
            + _cert_data(5, chain)
        )

    def sgx_quote(self, report_data: bytes, **body: Any) -> bytes:
        """A v3 SGX quote over ``report_data`` (64 bytes), signed by the attestation key."""
        signed = _header(3, TEE_SGX) + sgx_report_body(report_data, **body)
        auth = _raw_sign(self.attestation_key, signed) + _raw_public(self.attestation_key) + self._qe_auth()
        return signed + struct.pack("<I", len(auth)) + auth

    def tdx_quote(
        self,
        report_data: bytes,
        *,
        mr_td: bytes = b"\x33" * 48,
        td_report: Literal["1.0", "1.5"] = "1.0",
        mr_servicetd: bytes = bytes(48),
    ) -> bytes:
        """A TDX quote over ``report_data`` (certification data type 6 wrapping the QE report): v4 with a
        TD Report 1.0, or v5 with a TD Report 1.5 (body descriptor, then the 1.0 body + TEE_TCB_SVN_2 +
        MRSERVICETD; the signature covers the descriptor too)."""
        body = td_report_body(report_data, mr_td=mr_td)
        if td_report == "1.5":
            body += TEE_TCB_SVN_2 + mr_servicetd
            signed = _header(5, TEE_TDX) + struct.pack("<HI", TD_REPORT15_BODY_TYPE, len(body)) + body
        else:
            signed = _header(4, TEE_TDX) + body
        auth = (
            _raw_sign(self.attestation_key, signed)
            + _raw_public(self.attestation_key)
            + _cert_data(6, self._qe_auth())
        )
        return signed + struct.pack("<I", len(auth)) + auth

    # collateral

    def tcb_info(self, *, tee: str = "sgx", status: str = "UpToDate", fmspc: bytes = FMSPC) -> str:
        level_tcb: dict[str, Any] = {"sgxtcbcomponents": [{"svn": svn} for svn in CPU_SVN], "pcesvn": PCE_SVN}
        body: dict[str, Any] = {
            "id": tee.upper(),
            "version": 3,
            "issueDate": _iso(self.now - dt.timedelta(hours=1)),
            "nextUpdate": _iso(self.now + dt.timedelta(days=30)),
            "fmspc": fmspc.hex().upper(),
            "pceId": PCE_ID.hex(),
            "tcbType": 0,
            "tcbEvaluationDataNumber": 17,
            "tcbLevels": [
                {
                    "tcb": level_tcb,
                    "tcbDate": _iso(self.now - dt.timedelta(days=60)),
                    "tcbStatus": status,
                    "advisoryIDs": [] if status == "UpToDate" else ["INTEL-SA-00000"],
                }
            ],
        }
        if tee == "tdx":
            # TDX TCB info v3 adds the TDX module's SVNs and identity (Intel PCS API, TCB Info V3).
            level_tcb["tdxtcbcomponents"] = [{"svn": svn} for svn in TEE_TCB_SVN]
            body["tdxModule"] = {"mrsigner": "00" * 48, "attributes": "00" * 8, "attributesMask": "FF" * 8}
        return json.dumps(body, separators=(",", ":"))

    def qe_identity(self, *, tee: str = "sgx") -> str:
        body = {
            "id": "QE" if tee == "sgx" else "TD_QE",
            "version": 2,
            "issueDate": _iso(self.now - dt.timedelta(hours=1)),
            "nextUpdate": _iso(self.now + dt.timedelta(days=30)),
            "tcbEvaluationDataNumber": 17,
            "miscselect": "00000000",
            "miscselectMask": "FFFFFFFF",
            "attributes": "11000000000000000000000000000000",
            "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
            "mrsigner": QE_MRSIGNER.hex().upper(),
            "isvprodid": QE_ISVPRODID,
            "tcbLevels": [
                {
                    "tcb": {"isvsvn": QE_ISVSVN},
                    "tcbDate": _iso(self.now - dt.timedelta(days=60)),
                    "tcbStatus": "UpToDate",
                }
            ],
        }
        return json.dumps(body, separators=(",", ":"))

    def collateral(
        self,
        *,
        tee: str = "sgx",
        status: str = "UpToDate",
        tcb_info: str | None = None,
        revoke_pck: bool = False,
    ) -> dcap_qvl.QuoteCollateralV3:
        tcb = tcb_info if tcb_info is not None else self.tcb_info(tee=tee, status=status)
        qe = self.qe_identity(tee=tee)
        revoked = [self.pck.serial_number] if revoke_pck else []
        return dcap_qvl.QuoteCollateralV3(
            pck_crl_issuer_chain=_pem(self.pck_ca, self.root).decode(),
            root_ca_crl=_crl("Test SGX Root CA", self.root_key, self.now, []),
            pck_crl=_crl("Test SGX PCK CA", self.pck_ca_key, self.now, revoked),
            tcb_info_issuer_chain=_pem(self.tcb_signer, self.root).decode(),
            tcb_info=tcb,
            tcb_info_signature=_raw_sign(self.tcb_key, tcb.encode()),
            qe_identity_issuer_chain=_pem(self.tcb_signer, self.root).decode(),
            qe_identity=qe,
            qe_identity_signature=_raw_sign(self.tcb_key, qe.encode()),
        )
