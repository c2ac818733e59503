"""Toolchain lookup and the solc-js build (cached by source hash)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neo_service_layer.chains.evm.build import (
    CONTRACTS_DIR,
    ContractBuild,
    build_contracts,
    build_key,
    read_sources,
)
from neo_service_layer.chains.evm.errors import ContractBuildFailed, EvmToolchainMissing
from neo_service_layer.chains.evm.toolchain import anvil_package, find_toolchain

DEPLOYABLE = {
    "NSLGateway",
    "DYVRFVerifier",
    "NSLPriceFeed",
    "RandomnessConsumer",
    "OracleConsumer",
    "FunctionsConsumer",
    "PriceFeedConsumer",
}


def test_toolchain_found() -> None:
    tc = find_toolchain()
    assert tc.anvil.is_file()
    assert tc.solcjs.is_file()
    assert tc.solc_version.startswith("0.8.")


def test_missing_toolchain_says_run_make_setup(tmp_path: Path) -> None:
    with pytest.raises(EvmToolchainMissing, match="make setup") as info:
        find_toolchain(tmp_path)
    assert info.value.code == "evm_toolchain_missing"


@pytest.mark.parametrize(
    ("plat", "machine", "package"),
    [
        ("linux", "x86_64", "anvil-linux-amd64"),
        ("linux", "aarch64", "anvil-linux-arm64"),
        ("darwin", "arm64", "anvil-darwin-arm64"),
        ("win32", "AMD64", "anvil-win32-amd64"),
    ],
    ids=["linux-x64", "linux-arm64", "macos-arm64", "windows-x64"],
)
def test_anvil_package_per_platform(plat: str, machine: str, package: str) -> None:
    assert anvil_package(plat, machine) == package


def test_unknown_platform() -> None:
    with pytest.raises(EvmToolchainMissing):
        anvil_package("sunos", "sparc")


def test_build_is_complete_and_clean(evm_build: ContractBuild) -> None:
    assert set(evm_build.artifacts) >= DEPLOYABLE
    assert all(evm_build[name].bytecode for name in DEPLOYABLE)
    assert evm_build.warnings == ()
    assert len(evm_build["NSLGateway"].deployed_bytecode) < 24_576  # EIP-170 code size limit


def test_build_is_cached_by_source_hash(evm_build: ContractBuild) -> None:
    again = build_contracts()
    assert again.key == evm_build.key
    sources = read_sources(CONTRACTS_DIR)
    changed = dict(sources, **{"NSLGateway.sol": sources["NSLGateway.sol"] + "\n"})
    assert build_key(evm_build.solc_version, changed) != evm_build.key
    assert build_key("0.8.0", sources) != evm_build.key


def test_compile_error_is_typed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Broken.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract B { x }\n"
    )
    with pytest.raises(ContractBuildFailed, match=r"Broken\.sol"):
        build_contracts(source_dir=src, build_dir=tmp_path / "out")
    with pytest.raises(ContractBuildFailed, match="no Solidity sources"):
        build_contracts(source_dir=tmp_path / "out", build_dir=tmp_path / "out")


def test_fresh_build_writes_cache_and_recovers_a_damaged_one(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "Answer.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\n"
        "contract Answer { function get() external pure returns (uint256) { return 42; } }\n"
    )
    first = build_contracts(source_dir=src, build_dir=out)
    cached = out / f"{first.key}.json"
    assert cached.is_file()
    assert build_contracts(source_dir=src, build_dir=out)["Answer"].bytecode == first["Answer"].bytecode
    cached.write_text("{ damaged")
    assert build_contracts(source_dir=src, build_dir=out)["Answer"].abi == first["Answer"].abi
