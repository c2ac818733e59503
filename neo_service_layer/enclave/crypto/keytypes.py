"""Key types, hash algorithms and signature formats, with the capabilities of each key type.

The policy style follows OpenBao transit (``keysutil.KeyType.SigningSupported()`` /
``EncryptionSupported()``, ``builtin/logical/transit``): the key type alone decides which operations,
hash algorithms and signature formats are allowed, so the keys service asks the enum instead of
re-encoding the rules.

=============  =====  ======  =======  ====  =========  ===  ============================  ==================
key type       sign   verify  encrypt  hmac  data key   vrf  hashes                        formats
=============  =====  ======  =======  ====  =========  ===  ============================  ==================
secp256r1      yes    yes     no       no    no         yes  sha256 sha384 sha512          raw der
                                                             keccak256 none
secp256k1      yes    yes     no       no    no         no   sha256 sha384 sha512          raw der evm
                                                             keccak256 none
ed25519        yes    yes     no       no    no         yes  none (PureEdDSA, RFC 8032)    raw
aes256-gcm     no     no      yes      no    yes        no   -                             -
hmac-sha256    no     no      no       yes   no         no   -                             -
bls12381       no     no      no       no    no         yes  -                             -
=============  =====  ======  =======  ====  =========  ===  ============================  ==================

``bls12381`` keys have a public key (asymmetric) but do not sign: their material is the secret of the
Dodis-Yampolskiy VRF (:mod:`.dyvrf`), whose proofs contracts verify on chain. ``ed25519`` and
``secp256r1`` keys also prove ECVRF outputs (RFC 9381 suites ``ECVRF-EDWARDS25519-SHA512-TAI`` and
``ECVRF-P256-SHA256-TAI``, :mod:`.ecvrf`); :mod:`.vrf` maps each VRF scheme to its key type.
"""

from __future__ import annotations

from enum import StrEnum

from neo_service_layer.enclave.crypto.errors import UnsupportedOperation


class HashAlgorithm(StrEnum):
    """How the signed data is hashed before signing.

    ``none`` means the caller already hashed: for the EC key types the data must be a 32-byte digest
    (used as is, SEC 1 §4.1.3 step 5); for ed25519 it means PureEdDSA, which signs the message itself
    (RFC 8032 §5.1.6 hashes internally with SHA-512) - ed25519 accepts no other value.
    """

    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"
    KECCAK256 = "keccak256"  # Ethereum's Keccak-256 (pre-FIPS-202 padding), not SHA3-256
    NONE = "none"


class SignatureFormat(StrEnum):
    """How a signature is encoded.

    - ``raw``: fixed-width big-endian ``r ‖ s`` (64 bytes for the 256-bit curves, IEEE P1363 / what
      Neo N3 ``CryptoLib.verifyWithECDsa`` and ``System.Crypto.CheckSig`` take); for ed25519 the
      64-byte ``R ‖ S`` of RFC 8032 §5.1.6.
    - ``der``: ASN.1 DER ``SEQUENCE { INTEGER r, INTEGER s }`` (SEC 1 §C.8, RFC 3279 §2.2.3).
    - ``evm``: ``r ‖ s ‖ v`` (65 bytes) with ``v ∈ {27, 28}`` (Ethereum ``ecrecover``, Yellow Paper
      Appendix F), secp256k1 only, ``s`` always in the lower half (EIP-2).
    """

    RAW = "raw"
    DER = "der"
    EVM = "evm"


_EC_HASHES = (
    HashAlgorithm.SHA256,
    HashAlgorithm.SHA384,
    HashAlgorithm.SHA512,
    HashAlgorithm.KECCAK256,
    HashAlgorithm.NONE,
)


class KeyType(StrEnum):
    """The key types the enclave's keys service manages (values are the stable wire names)."""

    SECP256R1 = "secp256r1"  # NIST P-256 (FIPS 186-5, SP 800-186); Neo N3 accounts
    SECP256K1 = "secp256k1"  # SEC 2 §2.4.1; Ethereum / Neo X accounts
    ED25519 = "ed25519"  # RFC 8032
    AES256_GCM = "aes256-gcm"  # FIPS 197 + NIST SP 800-38D
    HMAC_SHA256 = "hmac-sha256"  # RFC 2104 + FIPS 180-4
    BLS12381 = "bls12381"  # Dodis-Yampolskiy VRF on BLS12-381 (PKC 2005; enclave/crypto/dyvrf.py)

    @property
    def is_asymmetric(self) -> bool:
        """True for the key types with a public key (the EC and Edwards curves, BLS12-381)."""
        return self in (KeyType.SECP256R1, KeyType.SECP256K1, KeyType.ED25519, KeyType.BLS12381)

    @property
    def is_elliptic_curve_ecdsa(self) -> bool:
        """True for the ECDSA key types (``secp256r1``, ``secp256k1``)."""
        return self in (KeyType.SECP256R1, KeyType.SECP256K1)

    @property
    def can_sign(self) -> bool:
        """True if the key type produces signatures (the asymmetric key types except ``bls12381``)."""
        return self in (KeyType.SECP256R1, KeyType.SECP256K1, KeyType.ED25519)

    @property
    def can_verify(self) -> bool:
        """True if signatures can be verified with the key type's public key."""
        return self.can_sign

    @property
    def can_encrypt(self) -> bool:
        """True if the key type encrypts and decrypts (AEAD with an encryption context)."""
        return self is KeyType.AES256_GCM

    @property
    def can_hmac(self) -> bool:
        """True if the key type computes and verifies MACs."""
        return self is KeyType.HMAC_SHA256

    @property
    def can_generate_data_key(self) -> bool:
        """True if the key type can wrap a freshly generated data key (envelope encryption)."""
        return self is KeyType.AES256_GCM

    @property
    def can_vrf(self) -> bool:
        """True if the key type proves VRF outputs (:mod:`.vrf`).

        ``ed25519`` and ``secp256r1``: ECVRF (RFC 9381); ``bls12381``: Dodis-Yampolskiy (:mod:`.dyvrf`).
        """
        return self in (KeyType.ED25519, KeyType.SECP256R1, KeyType.BLS12381)

    @property
    def supported_hashes(self) -> tuple[HashAlgorithm, ...]:
        """The hash algorithms a signature with this key type may use (empty if it cannot sign)."""
        if self.is_elliptic_curve_ecdsa:
            return _EC_HASHES
        if self is KeyType.ED25519:
            return (HashAlgorithm.NONE,)
        return ()

    @property
    def supported_signature_formats(self) -> tuple[SignatureFormat, ...]:
        """The signature encodings this key type produces and verifies (empty if it cannot sign)."""
        if self is KeyType.SECP256K1:
            return (SignatureFormat.RAW, SignatureFormat.DER, SignatureFormat.EVM)
        if self is KeyType.SECP256R1:
            return (SignatureFormat.RAW, SignatureFormat.DER)
        if self is KeyType.ED25519:
            return (SignatureFormat.RAW,)
        return ()

    @property
    def default_hash(self) -> HashAlgorithm | None:
        """The hash to use when a caller does not name one (``None`` if the key type cannot sign)."""
        if self is KeyType.SECP256K1:
            return HashAlgorithm.KECCAK256
        if self is KeyType.SECP256R1:
            return HashAlgorithm.SHA256
        if self is KeyType.ED25519:
            return HashAlgorithm.NONE
        return None

    def check_signature_params(self, hash_alg: HashAlgorithm, fmt: SignatureFormat) -> None:
        """Raise :class:`UnsupportedOperation` unless this key type signs with ``hash_alg`` in ``fmt``."""
        if not self.can_sign:
            raise UnsupportedOperation(f"key type {self.value} cannot sign or verify")
        if hash_alg not in self.supported_hashes:
            allowed = ", ".join(h.value for h in self.supported_hashes)
            raise UnsupportedOperation(
                f"key type {self.value} does not support hash {hash_alg.value} (allowed: {allowed})"
            )
        if fmt not in self.supported_signature_formats:
            allowed = ", ".join(f.value for f in self.supported_signature_formats)
            raise UnsupportedOperation(
                f"key type {self.value} does not support signature format {fmt.value} (allowed: {allowed})"
            )
