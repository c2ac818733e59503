"""The sealed enclave state file: the identity keys, created on first start, unsealed on every later one.

``<state_dir>/state.sealed`` is a small JSON document::

    {"format": "nsl-enclave-state", "version": 1, "sealing": "<provider kind>",
     "key_check": "<hex>", "sealed": "<base64 blob>"}

``sealed`` is the identity's private keys sealed with purpose ``enclave-state`` and context
``v1:<provider kind>``; ``key_check`` fingerprints the sealing key so that a wrong passphrase or key
file is reported as such rather than as a damaged file. The file is written once, atomically, and
never overwritten: any problem reading it stops the enclave with a clear :class:`UnsealFailed` and
leaves the file as it is for the operator to inspect.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from neo_service_layer.enclave.canonical import b64decode, b64encode, canonical_json
from neo_service_layer.enclave.fsutil import ensure_private_dir, write_new_file
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.protocol import UnsealFailed
from neo_service_layer.enclave.sealing import PURPOSE_STATE, Sealer, SealingKeyProvider
from neo_service_layer.logging import get_logger

log = get_logger("nsl.enclave.state")

STATE_FILENAME: Final = "state.sealed"
STATE_FORMAT: Final = "nsl-enclave-state"
STATE_VERSION: Final = 1
MAX_STATE_BYTES: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class EnclaveState:
    """What the enclave unsealed (or created) at start-up."""

    identity: Identity
    sealer: Sealer
    created: bool


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILENAME


def _context(kind: str) -> str:
    return f"v{STATE_VERSION}:{kind}"


def load_or_create_state(state_dir: Path, provider: SealingKeyProvider) -> EnclaveState:
    """Unseal the state in ``state_dir``, or create it (new identity) when there is none.

    Blocking (scrypt, fsync): call it before the event loop serves, or in a thread.
    """
    ensure_private_dir(state_dir)
    path = state_path(state_dir)
    exists = path.exists()
    sealer = Sealer(provider.load_key(create=not exists))
    if exists:
        return EnclaveState(_load(path, sealer, provider.kind), sealer, created=False)
    identity = Identity.generate()
    p256, k1 = identity.secrets()
    plaintext = canonical_json({"p256": b64encode(p256), "k1": b64encode(k1)})
    document = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "sealing": provider.kind,
        "key_check": sealer.key_check,
        "sealed": b64encode(sealer.seal(PURPOSE_STATE, _context(provider.kind), plaintext)),
    }
    if write_new_file(path, json.dumps(document, indent=2).encode() + b"\n"):
        log.info("enclave state created", path=str(path), sealing=provider.kind)
        return EnclaveState(identity, sealer, created=True)
    # Another enclave process created it between our check and our write: theirs wins, load it.
    return EnclaveState(_load(path, sealer, provider.kind), sealer, created=False)


def _load(path: Path, sealer: Sealer, kind: str) -> Identity:
    document = _read_document(path)
    if document.get("sealing") != kind:
        raise UnsealFailed(
            f"{path} was sealed with the {document.get('sealing')!r} sealing key, but this enclave is "
            f"configured for {kind!r} (NSL_ENCLAVE_PASSPHRASE selects the passphrase, else the key file)"
        )
    if not hmac.compare_digest(str(document.get("key_check", "")), sealer.key_check):
        raise UnsealFailed(f"the sealing key does not match {path}: wrong passphrase or key file")
    try:
        blob = b64decode(str(document.get("sealed", "")))
    except ValueError as exc:
        raise UnsealFailed(f"{path} is damaged: its sealed blob is not base64") from exc
    try:
        plaintext = sealer.open(PURPOSE_STATE, _context(kind), blob)
    except UnsealFailed as exc:
        raise UnsealFailed(
            f"{path} does not open under the right sealing key: it was modified or damaged"
        ) from exc
    try:
        keys = json.loads(plaintext)
        return Identity.from_secrets(b64decode(keys["p256"]), b64decode(keys["k1"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise UnsealFailed(f"{path} opened but holds no valid identity keys") from exc


def _read_document(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnsealFailed(f"cannot read {path}: {exc.strerror}") from exc
    if len(raw) > MAX_STATE_BYTES:
        raise UnsealFailed(f"{path} is damaged: {len(raw)} bytes is far more than a state file holds")
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise UnsealFailed(f"{path} is damaged: not JSON") from exc
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise UnsealFailed(f"{path} is not an NSL enclave state file")
    if document.get("version") != STATE_VERSION:
        raise UnsealFailed(
            f"{path} has state version {document.get('version')!r}; this enclave reads {STATE_VERSION}"
        )
    return document
