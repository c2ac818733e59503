"""Compile the neo3-boa contracts to ``.nef`` + manifest, cached by a hash of the compiler and the source.

The output is build output, never committed: ``<repo>/build/neo_n3/<key>/`` (``/build/`` is gitignored)
or a directory the caller chooses. The key covers the neo3-boa version and the contract source, so any
change recompiles. boa runs in child Python processes (one per stale contract, in parallel): it logs
through the root logger and keeps global compiler state, neither of which belongs in the caller's process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from neo3.contracts import manifest, nef

from neo_service_layer.chains.neo_n3.errors import N3ContractBuildFailed

#: The neo3-boa sources shipped with NSL.
CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
#: Every contract NSL deploys, by source file stem.
CONTRACT_NAMES: tuple[str, ...] = (
    "nsl_gateway",
    "nsl_price_feed",
    "randomness_consumer",
    "oracle_consumer",
    "functions_consumer",
    "price_feed_consumer",
)
#: boa compiles the gateway in about 0.3 s; a whole build in a few seconds.
DEFAULT_COMPILE_TIMEOUT_SECONDS = 120.0
# The child process: compile one source to the given .nef path; boa writes the manifest next to it.
_DRIVER = (
    "import sys\nfrom boa3.boa3 import Boa3\nBoa3.compile_and_save(sys.argv[1], output_path=sys.argv[2])\n"
)


@dataclass(frozen=True, slots=True)
class N3Artifact:
    """One compiled contract: the NEF and manifest files neo-mamba deploys."""

    name: str
    key: str
    nef_path: Path
    manifest_path: Path

    def nef(self) -> nef.NEF:
        """The parsed NEF."""
        parsed: nef.NEF = nef.NEF.from_file(str(self.nef_path))
        return parsed

    def manifest(self) -> manifest.ContractManifest:
        """The parsed manifest."""
        parsed: manifest.ContractManifest = manifest.ContractManifest.from_file(str(self.manifest_path))
        return parsed


@dataclass(frozen=True, slots=True)
class N3Build:
    """The compiled contracts by name (source file stem)."""

    artifacts: Mapping[str, N3Artifact]

    def __getitem__(self, name: str) -> N3Artifact:
        return self.artifacts[name]


def boa_version() -> str:
    """The installed neo3-boa version (part of every cache key)."""
    return metadata.version("neo3-boa")


def default_build_dir() -> Path:
    """``<repo>/build/neo_n3`` in a source checkout, else a per-user cache directory."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file():
        return root / "build" / "neo_n3"
    return Path.home() / ".cache" / "nsl" / "neo_n3"


def build_key(source: str, version: str) -> str:
    """SHA-256 over the compiler version and one contract's source."""
    return hashlib.sha256(f"neo3-boa {version}\n".encode() + source.encode()).hexdigest()


def build_contracts(
    names: Sequence[str] = CONTRACT_NAMES,
    *,
    source_dir: Path = CONTRACTS_DIR,
    build_dir: Path | None = None,
    timeout: float = DEFAULT_COMPILE_TIMEOUT_SECONDS,
) -> N3Build:
    """Compile ``names`` from ``source_dir`` (reusing cached output for an unchanged source)."""
    out_dir = build_dir or default_build_dir()
    version = boa_version()
    artifacts: dict[str, N3Artifact] = {}
    stale: list[tuple[Path, N3Artifact]] = []
    for name in names:
        source = source_dir / f"{name}.py"
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as e:
            raise N3ContractBuildFailed(f"cannot read {source}: {e}") from e
        key = build_key(text, version)
        target = out_dir / key
        artifact = N3Artifact(name, key, target / f"{name}.nef", target / f"{name}.manifest.json")
        artifacts[name] = artifact
        if not (artifact.nef_path.is_file() and artifact.manifest_path.is_file()):
            stale.append((source, artifact))
    if stale:
        _compile(stale, out_dir, timeout)
    return N3Build(artifacts)


def _compile(jobs: Sequence[tuple[Path, N3Artifact]], out_dir: Path, timeout: float) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".boa-") as tmp:
        # One child per contract, all at once: boa's code generator is quadratic in the code size (the
        # gateway takes ~20 s), so the build takes as long as the largest contract, not the sum.
        running: list[tuple[Path, N3Artifact, Path, subprocess.Popen[str]]] = []
        for source, artifact in jobs:
            built = Path(tmp) / artifact.key
            built.mkdir()
            argv = [sys.executable, "-c", _DRIVER, str(source), str(built / artifact.nef_path.name)]
            try:
                proc = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter and the driver, no shell
                    argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=built
                )
            except OSError as e:
                raise N3ContractBuildFailed(f"neo3-boa did not run: {e}") from e
            running.append((source, artifact, built, proc))
        for source, artifact, built, proc in running:
            try:
                output, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired as e:
                for *_, other in running:
                    other.kill()
                raise N3ContractBuildFailed(f"neo3-boa timed out on {source.name}") from e
            if proc.returncode != 0 or not (built / artifact.manifest_path.name).is_file():
                errors = [line for line in output.splitlines() if "ERROR" in line]
                detail = "\n".join(errors) or output.strip()[-800:]
                raise N3ContractBuildFailed(f"neo3-boa failed on {source.name}: {detail}")
            _publish(built, out_dir / artifact.key, artifact)


def _publish(built: Path, target: Path, artifact: N3Artifact) -> None:
    # A complete directory appears with one rename: a concurrent builder of the same key sees nothing or
    # the whole output; if another builder won the race, its (identical) output is kept.
    try:
        os.replace(built, target)
    except OSError:
        if not artifact.nef_path.is_file():
            raise
        shutil.rmtree(built, ignore_errors=True)
