"""neo3-boa build: cached by source hash, manifests as expected, compiler errors reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neo_service_layer.chains.neo_n3.build import CONTRACT_NAMES, N3Build, build_contracts, build_key
from neo_service_layer.chains.neo_n3.errors import N3ContractBuildFailed


def test_build_is_cached_and_complete(n3_build: N3Build) -> None:
    again = build_contracts()
    for name in CONTRACT_NAMES:
        assert again[name] == n3_build[name]
        assert n3_build[name].nef_path.parent.name == n3_build[name].key
    methods = {
        m["name"] for m in json.loads(n3_build["nsl_gateway"].manifest_path.read_text())["abi"]["methods"]
    }
    assert {"request", "fulfill", "set_enclave_key", "set_vrf_key", "pause", "unpause", "set_fees"} <= methods
    assert n3_build["nsl_gateway"].manifest().name == "NSLGateway"
    assert n3_build["nsl_gateway"].nef().checksum != 0


def test_key_covers_compiler_and_source() -> None:
    assert build_key("a", "1.5.0") != build_key("b", "1.5.0")
    assert build_key("a", "1.5.0") != build_key("a", "1.5.1")


def test_compiler_errors_are_reported(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(
        "from boa3.sc.compiletime import public\n\n@public\ndef f() -> int:\n    return x\n"
    )
    with pytest.raises(N3ContractBuildFailed, match=r"broken\.py"):
        build_contracts(("broken",), source_dir=tmp_path, build_dir=tmp_path / "out")
    with pytest.raises(N3ContractBuildFailed, match="cannot read"):
        build_contracts(("absent",), source_dir=tmp_path, build_dir=tmp_path / "out")
