"""Compile the Solidity contracts with solc-js (standard JSON), cached by a hash of sources and settings.

The compiled artifacts are build output, never committed: they go to ``<repo>/build/evm`` (``/build/`` is
gitignored) or a directory the caller chooses, one JSON file per cache key. The key covers the solc
version, the compiler settings and every source file, so any change recompiles, and concurrent builders
(parallel test processes) write the same file atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo_service_layer.chains.evm.errors import ContractBuildFailed
from neo_service_layer.chains.evm.toolchain import EvmToolchain, find_toolchain

#: The Solidity sources shipped with NSL.
CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
#: Prague: the first hardfork with the EIP-2537 BLS12-381 precompiles the VRF verifier calls.
EVM_VERSION = "prague"
#: solc settings; part of the cache key.
COMPILER_SETTINGS: dict[str, Any] = {
    "evmVersion": EVM_VERSION,
    "optimizer": {"enabled": True, "runs": 200},
    "viaIR": False,
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}
#: How long solc-js may take (it compiles all contracts in about a second here).
DEFAULT_COMPILE_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class ContractArtifact:
    """One compiled contract."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes


@dataclass(frozen=True, slots=True)
class ContractBuild:
    """All compiled contracts of one source set, keyed by contract name."""

    key: str
    solc_version: str
    artifacts: Mapping[str, ContractArtifact]
    warnings: tuple[str, ...]

    def __getitem__(self, name: str) -> ContractArtifact:
        return self.artifacts[name]


def default_build_dir(toolchain: EvmToolchain) -> Path:
    """``<repo>/build/evm``: gitignored build output next to ``node_modules``."""
    return toolchain.root / "build" / "evm"


def read_sources(source_dir: Path = CONTRACTS_DIR) -> dict[str, str]:
    """The ``*.sol`` files of ``source_dir`` by file name (solc source unit names)."""
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(source_dir.glob("*.sol"))}
    if not sources:
        raise ContractBuildFailed(f"no Solidity sources in {source_dir}")
    return sources


def build_key(solc_version: str, sources: Mapping[str, str]) -> str:
    """The cache key: SHA-256 over the compiler version, settings and sources (canonical JSON)."""
    blob = json.dumps(
        {"solc": solc_version, "settings": COMPILER_SETTINGS, "sources": dict(sorted(sources.items()))},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def build_contracts(
    *,
    toolchain: EvmToolchain | None = None,
    source_dir: Path = CONTRACTS_DIR,
    build_dir: Path | None = None,
) -> ContractBuild:
    """Compile every contract in ``source_dir`` (or load the cached output for the same key).

    Raises :class:`~.errors.EvmToolchainMissing` without solc-js and :class:`ContractBuildFailed` on
    compiler errors.
    """
    tc = toolchain or find_toolchain()
    sources = read_sources(source_dir)
    key = build_key(tc.solc_version, sources)
    out_dir = build_dir or default_build_dir(tc)
    cached = out_dir / f"{key}.json"
    if cached.is_file():
        try:
            return _load(key, tc.solc_version, json.loads(cached.read_text()))
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache file is rebuilt below
    output = compile_standard_json(tc, sources)
    build = _load(key, tc.solc_version, output)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".build-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(output, f)
    os.replace(tmp, cached)  # atomic: a concurrent reader sees the old file or the whole new one
    return build


# solc-js' own CLI exits before a piped stdout is flushed (output cut at 64 KiB), so a two-line driver
# compiles through the library API and writes the JSON to a file.
_DRIVER = (
    "const fs = require('fs'); const solc = require(process.argv[1]);"
    "fs.writeFileSync(process.argv[3], solc.compile(fs.readFileSync(process.argv[2], 'utf8')));"
)


def compile_standard_json(
    toolchain: EvmToolchain, sources: Mapping[str, str], *, timeout: float = DEFAULT_COMPILE_TIMEOUT_SECONDS
) -> dict[str, Any]:
    """Compile ``sources`` with solc-js (standard JSON): the parsed output, or ContractBuildFailed."""
    request = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": COMPILER_SETTINGS,
    }
    with tempfile.TemporaryDirectory(prefix="nsl-solc-") as tmp:
        in_path, out_path = Path(tmp) / "input.json", Path(tmp) / "output.json"
        in_path.write_text(json.dumps(request))
        argv = [str(toolchain.node), "-e", _DRIVER, str(toolchain.solcjs.parent), str(in_path), str(out_path)]
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argv: the located node and solc-js, no shell
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
            text = out_path.read_text() if proc.returncode == 0 else ""
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ContractBuildFailed(f"solc-js did not run: {e}") from e
    if proc.returncode != 0:
        raise ContractBuildFailed(f"solc-js exited with {proc.returncode}: {proc.stderr.strip()[-500:]}")
    try:
        output: dict[str, Any] = json.loads(text)
    except ValueError as e:
        raise ContractBuildFailed("solc-js output is not JSON") from e
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors or "contracts" not in output:
        detail = "\n".join(str(e.get("formattedMessage", e.get("message"))) for e in errors)
        raise ContractBuildFailed(f"solc-js failed: {detail or 'no contracts in the output'}")
    return output


def _load(key: str, solc_version: str, output: Mapping[str, Any]) -> ContractBuild:
    artifacts: dict[str, ContractArtifact] = {}
    for source, contracts in output["contracts"].items():
        for name, c in contracts.items():
            artifacts[name] = ContractArtifact(
                name=name,
                source=source,
                abi=c["abi"],
                bytecode=bytes.fromhex(c["evm"]["bytecode"]["object"]),
                deployed_bytecode=bytes.fromhex(c["evm"]["deployedBytecode"]["object"]),
            )
    warnings = tuple(
        str(e.get("formattedMessage", e.get("message")))
        for e in output.get("errors", [])
        if e.get("severity") != "error"
    )
    return ContractBuild(key=key, solc_version=solc_version, artifacts=artifacts, warnings=warnings)
