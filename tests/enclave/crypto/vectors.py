"""Loaders for published test vectors: NIST CAVP files from ``cryptography-vectors``, RFC 4231, RFC 6979
(OpenSSL's evp test file), the SUPERCOP ed25519 ``sign.input`` and the JSON files in ``tests/testdata``.

The CAVP ``.rsp`` / ``.txt`` format: ``[section]`` or ``[Name = value]`` header lines set parameters
that apply to the records below them; a record is a run of ``Name = value`` lines (a bare ``FAIL``
line marks an AES-GCM decrypt vector that must not open) ended by a blank line; ``#`` starts a comment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cryptography_vectors

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"


@dataclass(frozen=True)
class CavpRecord:
    """One CAVP vector: the header parameters in force and the record's own fields."""

    params: dict[str, str]
    fields: dict[str, str]
    flags: frozenset[str] = field(default_factory=frozenset)
    index: int = 0  # position within its section, for test ids

    def hex(self, name: str) -> bytes:
        """A hex field as bytes (empty fields are empty bytes)."""
        return bytes.fromhex(self.fields[name])

    def int(self, name: str) -> int:
        """A hex field as an integer."""
        return int(self.fields[name], 16)


def _vector_lines(path: str) -> list[str]:
    with cryptography_vectors.open_vector_file(path, "r") as f:
        return [line.strip() for line in f.read().splitlines()]


@cache
def load_cavp(path: str) -> tuple[CavpRecord, ...]:
    """Every record of a CAVP response file, with its section parameters."""
    params: dict[str, str] = {}
    records: list[CavpRecord] = []
    fields: dict[str, str] = {}
    flags: set[str] = set()
    counters: dict[tuple[tuple[str, str], ...], int] = {}

    def flush() -> None:
        nonlocal fields, flags
        if fields:
            key = tuple(sorted(params.items()))
            index = counters.get(key, 0)
            counters[key] = index + 1
            records.append(CavpRecord(dict(params), fields, frozenset(flags), index))
        fields, flags = {}, set()

    for line in _vector_lines(path):
        if line.startswith("#"):
            continue
        if not line:
            flush()
        elif line.startswith("["):
            flush()
            inner = line[1:-1]
            if "=" in inner:
                name, value = (part.strip() for part in inner.split("=", 1))
                params[name] = value
            else:
                params["section"] = inner
        elif "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            fields[name] = value
        else:
            flags.add(line)
    flush()
    return tuple(records)


def cavp_section(path: str, section: str) -> list[CavpRecord]:
    """The records of one ``[curve,hash]`` section of a CAVP ECDSA file."""
    return [r for r in load_cavp(path) if r.params.get("section") == section]


@dataclass(frozen=True)
class Ed25519Vector:
    seed: bytes
    public_key: bytes
    message: bytes
    signature: bytes


@cache
def load_ed25519_sign_input() -> tuple[Ed25519Vector, ...]:
    """djb's SUPERCOP ``sign.input``: ``seed‖pk : pk : message : signature‖message :`` per line."""
    vectors = []
    for line in _vector_lines("asymmetric/Ed25519/sign.input"):
        if not line:
            continue
        secret, public, message, signed, _ = line.split(":")
        vectors.append(
            Ed25519Vector(
                seed=bytes.fromhex(secret)[:32],
                public_key=bytes.fromhex(public),
                message=bytes.fromhex(message),
                signature=bytes.fromhex(signed)[:64],
            )
        )
    return tuple(vectors)


@dataclass(frozen=True)
class Rfc6979Vector:
    """One deterministic-ECDSA signing vector (RFC 6979 §A.2.5, P-256) from OpenSSL's evp tests."""

    hash_name: str  # "SHA256", …
    message: bytes
    der_signature: bytes


@cache
def load_rfc6979_p256() -> tuple[str, tuple[Rfc6979Vector, ...]]:
    """The P-256 private key (PEM) and its ``DigestSign`` vectors from ``evppkey_ecdsa_rfc6979.txt``."""
    text = "\n".join(_vector_lines("asymmetric/ECDSA/RFC6979/evppkey_ecdsa_rfc6979.txt"))
    section = text.split("Title = RFC 6979 P-256 deterministic ECDSA tests", 1)[1].split("Title =", 1)[0]
    pem_start = section.index("-----BEGIN PRIVATE KEY-----")
    pem_end = section.index("-----END PRIVATE KEY-----") + len("-----END PRIVATE KEY-----")
    pem = section[pem_start:pem_end] + "\n"
    vectors = []
    for block in section.split("\n\n"):
        entries: dict[str, str] = {}
        for line in block.splitlines():
            if " = " in line:
                name, value = line.split(" = ", 1)
                entries[name.strip()] = value.strip()
        if "DigestSign" in entries and entries.get("NonceType") == "deterministic":
            vectors.append(
                Rfc6979Vector(
                    hash_name=entries["DigestSign"],
                    message=entries["Input"].strip('"').encode(),
                    der_signature=bytes.fromhex(entries["Output"]),
                )
            )
    return pem, tuple(vectors)


def load_testdata(name: str) -> Any:
    """A JSON file of ``tests/testdata``."""
    return json.loads((TESTDATA / name).read_text(encoding="utf-8"))
