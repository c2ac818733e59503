"""The enclave's measurement (docs/enclave.md §4): a hash of its code and security-relevant config.

``measurement = SHA-256("NSL-MEASUREMENT-V1" ‖ 0x00 ‖ canonical_json(manifest))`` where the manifest is
``{"backend", "protocol_version", "files": [[path, sha256(content)], ...]}`` with every ``.py`` and
``.js`` file of ``neo_service_layer/enclave`` (sub-packages included; the ``.js`` is the functions
sandbox's prelude) and the package modules the enclave imports
(``SHARED_MODULES``), paths relative to the package parent and sorted. A test checks that the enclave
process imports no other module of the package, so that list cannot silently fall behind.

On hardware the TEE measures the whole image (MRENCLAVE / MRTD, which covers the interpreter and the
third-party libraries too); this measurement names *our* code inside it, and is the only code identity
a software enclave has — self-reported, hence worth only as much as the machine it runs on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

import neo_service_layer
from neo_service_layer.enclave.canonical import canonical_json
from neo_service_layer.enclave.protocol import PROTOCOL_VERSION

MEASUREMENT_DOMAIN: Final = b"NSL-MEASUREMENT-V1\x00"
PACKAGE_ROOT: Final = Path(neo_service_layer.__file__).resolve().parent
# Modules outside enclave/ that the enclave process imports (configuration, errors, ids, logging).
SHARED_MODULES: Final = (
    "__init__.py",
    "config/__init__.py",
    "config/flat.py",
    "config/groups.py",
    "config/settings.py",
    "constants.py",
    "errors.py",
    "ids.py",
    "logging.py",
)


def measured_files(package_root: Path = PACKAGE_ROOT) -> list[Path]:
    """Every file the measurement covers, sorted by their path relative to the package's parent."""
    enclave = package_root / "enclave"
    # .js: the functions sandbox's prelude, which every run of user code executes first.
    files = {
        path
        for pattern in ("*.py", "*.js")
        for path in enclave.rglob(pattern)
        if "__pycache__" not in path.parts
    }
    files.update(package_root / name for name in SHARED_MODULES)
    return sorted(files, key=lambda path: path.relative_to(package_root.parent).as_posix())


def code_manifest(package_root: Path = PACKAGE_ROOT) -> list[list[str]]:
    """``[[relative path, sha256 hex], ...]`` of :func:`measured_files`."""
    return [
        [path.relative_to(package_root.parent).as_posix(), hashlib.sha256(path.read_bytes()).hexdigest()]
        for path in measured_files(package_root)
    ]


def compute_measurement(backend: str, package_root: Path = PACKAGE_ROOT) -> str:
    """The measurement as 64 lowercase hex digits."""
    manifest = {
        "backend": backend,
        "protocol_version": PROTOCOL_VERSION,
        "files": code_manifest(package_root),
    }
    return hashlib.sha256(MEASUREMENT_DOMAIN + canonical_json(manifest)).hexdigest()
