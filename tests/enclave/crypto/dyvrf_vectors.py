"""Generator of ``tests/testdata/dyvrf_vectors.json``, the Dodis-Yampolskiy VRF test vectors (docs/dyvrf.md).

Written from the scheme in docs/dyvrf.md with ``hashlib`` and raw ``py_arkworks_bls12381`` calls only,
never through ``neo_service_layer.enclave.crypto.dyvrf``, so the vectors are a second implementation
the module is checked against. Inversion here is arkworks' ``Scalar.inverse()`` (the module uses
Fermat's ``s^(r-2)``), padding is done by integer arithmetic (the module slices bytes).

Regenerate (the output is deterministic: fixed secrets and inputs)::

    python -m tests.enclave.crypto.dyvrf_vectors
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import py_arkworks_bls12381 as bls

PATH = Path(__file__).resolve().parents[2] / "testdata" / "dyvrf_vectors.json"
#: BLS12-381 group order r (draft-irtf-cfrg-pairing-friendly-curves-11 §4.2.1).
R = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
FP_BYTES = 48


def _secret(label: bytes) -> int:
    # A fixed "random-looking" secret: SHA-256 of a label reduced mod r (never 0 for these labels).
    return int.from_bytes(hashlib.sha256(label).digest(), "big") % R


#: (id, secret sk, alpha): edge secrets 1 and r-1, hashed secrets, inputs from empty to long.
CASES: list[tuple[str, int, bytes]] = [
    ("sk1-empty", 1, b""),
    ("sk1-abc", 1, b"abc"),
    ("skr-1-abc", R - 1, b"abc"),
    ("hashed-request", _secret(b"nsl dyvrf vector 1"), b'{"request_id":"rnd_01","seed":"00ff"}'),
    ("hashed-32-bytes", _secret(b"nsl dyvrf vector 2"), bytes(range(32))),
    ("hashed-long", _secret(b"nsl dyvrf vector 3"), b"\xa5" * 300),
]


def eip2537_fp(value: int) -> bytes:
    """EIP-2537 Fp: 64 bytes, the 48-byte big-endian value after 16 zero bytes."""
    return value.to_bytes(64, "big")


def eip2537_point(xy_be: bytes) -> bytes:
    """EIP-2537 encoding of arkworks ``to_xy_bytes_be`` output (G1: x, y; G2: x.c0, x.c1, y.c0, y.c1)."""
    values = [int.from_bytes(xy_be[i : i + FP_BYTES], "big") for i in range(0, len(xy_be), FP_BYTES)]
    return b"".join(eip2537_fp(v) for v in values)


def vector(case_id: str, sk: int, alpha: bytes) -> dict[str, str]:
    """One vector of the scheme: keys, x in both byte orders, π, β and the EIP-2537 encodings."""
    g1, g2 = bls.G1Point(), bls.G2Point()
    pk = g1 * bls.Scalar(sk)
    digest = bytearray(hashlib.sha256(alpha).digest())
    digest[0] &= 0x3F  # clear the top two bits: x < 2^254 < r
    x = int.from_bytes(digest, "big")
    pi = g2 * (bls.Scalar(sk) + bls.Scalar(x)).inverse()
    pi_bytes = pi.to_compressed_bytes()
    return {
        "id": case_id,
        "sk": sk.to_bytes(32, "big").hex(),
        "pk": pk.to_compressed_bytes().hex(),
        "alpha": alpha.hex(),
        "x_be": x.to_bytes(32, "big").hex(),
        "x_le": x.to_bytes(32, "little").hex(),
        "pi": pi_bytes.hex(),
        "beta": hashlib.sha256(pi_bytes).hexdigest(),
        "pk_eip2537": eip2537_point(pk.to_xy_bytes_be()).hex(),
        "pi_eip2537": eip2537_point(pi.to_xy_bytes_be()).hex(),
    }


def build() -> dict[str, Any]:
    """The whole file: the constants a verifier contract embeds, and the vectors."""
    g1, g2 = bls.G1Point(), bls.G2Point()
    return {
        "scheme": "Dodis-Yampolskiy VRF on BLS12-381 (docs/dyvrf.md)",
        "generator": "python -m tests.enclave.crypto.dyvrf_vectors",
        "constants": {
            "r": f"{R:064x}",
            "g1": g1.to_compressed_bytes().hex(),
            "g2": g2.to_compressed_bytes().hex(),
            "g1_eip2537": eip2537_point(g1.to_xy_bytes_be()).hex(),
            "neg_g1_eip2537": eip2537_point((-g1).to_xy_bytes_be()).hex(),
            "g2_eip2537": eip2537_point(g2.to_xy_bytes_be()).hex(),
        },
        "vectors": [vector(*case) for case in CASES],
    }


def render() -> str:
    """The file's exact text."""
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {PATH}")
