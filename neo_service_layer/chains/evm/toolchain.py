"""Where the EVM toolchain lives: anvil (npm ``@foundry-rs/anvil``) and solc-js (npm ``solc``).

``make setup`` runs ``npm ci`` in the repository root, which installs both from ``package-lock.json``. The
anvil wrapper package pulls the binary for this platform as an optionalDependency
(``@foundry-rs/anvil-<os>-<arch>/bin/anvil``); we run that ELF directly, not the node wrapper, so
stopping the process stops the chain. solc-js is the emscripten build run with ``node``.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from neo_service_layer.chains.evm.errors import EvmToolchainMissing

#: The anvil platform packages of @foundry-rs/anvil, by (sys.platform, machine).
_ANVIL_PACKAGES: dict[tuple[str, str], str] = {
    ("linux", "x86_64"): "anvil-linux-amd64",
    ("linux", "amd64"): "anvil-linux-amd64",
    ("linux", "aarch64"): "anvil-linux-arm64",
    ("linux", "arm64"): "anvil-linux-arm64",
    ("darwin", "x86_64"): "anvil-darwin-amd64",
    ("darwin", "arm64"): "anvil-darwin-arm64",
    ("win32", "amd64"): "anvil-win32-amd64",
    ("win32", "x86_64"): "anvil-win32-amd64",
}
_HINT = "run `make setup` (npm ci) in the repository root"


@dataclass(frozen=True, slots=True)
class EvmToolchain:
    """Paths of the installed tools."""

    root: Path
    anvil: Path
    node: Path
    solcjs: Path
    solc_version: str


def repo_root() -> Path:
    """The checkout this package runs from (the directory holding ``package.json``)."""
    return Path(__file__).resolve().parents[3]


def anvil_package(plat: str | None = None, machine: str | None = None) -> str:
    """The ``@foundry-rs`` package name holding anvil for a platform (default: this one)."""
    key = (plat or sys.platform, (machine or platform.machine()).lower())
    try:
        return _ANVIL_PACKAGES[key]
    except KeyError:
        raise EvmToolchainMissing(f"no anvil build for platform {key[0]}/{key[1]}") from None


def find_toolchain(root: Path | None = None) -> EvmToolchain:
    """Locate anvil, node and solc-js under ``root/node_modules`` (default: :func:`repo_root`).

    Raises :class:`EvmToolchainMissing` naming what is missing and how to install it.
    """
    base = (root or repo_root()).resolve()
    modules = base / "node_modules"
    exe = ".exe" if sys.platform == "win32" else ""
    anvil = modules / "@foundry-rs" / anvil_package() / "bin" / f"anvil{exe}"
    if not anvil.is_file():
        raise EvmToolchainMissing(f"anvil not found at {anvil}: {_HINT}")
    solc_dir = modules / "solc"
    solcjs = solc_dir / "solc.js"
    if not solcjs.is_file():
        raise EvmToolchainMissing(f"solc-js not found at {solcjs}: {_HINT}")
    node = shutil.which("node")
    if node is None:
        raise EvmToolchainMissing("node (Node.js 20+) is not on PATH; solc-js needs it")
    try:
        version = str(json.loads((solc_dir / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError) as e:
        raise EvmToolchainMissing(f"cannot read the solc-js version: {_HINT}") from e
    return EvmToolchain(root=base, anvil=anvil, node=Path(node), solcjs=solcjs, solc_version=version)
