"""The enclave context: account master keys and their cache."""

from __future__ import annotations

import pytest

from neo_service_layer.enclave.context import EnclaveContext, amk_context
from neo_service_layer.enclave.protocol import UnsealFailed


def test_amk_round_trip(ctx: EnclaveContext) -> None:
    sealed = ctx.new_amk("acc_1", 1)
    key = ctx.open_amk("acc_1", 1, sealed)
    assert len(key) == 32
    assert ctx.open_amk("acc_1", 1, sealed) == key  # cached
    assert ctx.new_amk("acc_1", 1) != sealed


@pytest.mark.parametrize(
    ("account", "version"), [("acc_2", 1), ("acc_1", 2)], ids=["other-account", "other-version"]
)
def test_amk_cache_never_crosses_accounts_or_versions(
    ctx: EnclaveContext, account: str, version: int
) -> None:
    sealed = ctx.new_amk("acc_1", 1)
    ctx.open_amk("acc_1", 1, sealed)  # now in the cache
    with pytest.raises(UnsealFailed):
        ctx.open_amk(account, version, sealed)


def test_amk_cache_is_bounded(ctx: EnclaveContext) -> None:
    small = EnclaveContext(
        identity=ctx.identity, sealer=ctx.sealer, backend=ctx.backend, report=ctx.report, amk_cache_size=2
    )
    blobs = [small.new_amk("acc", version) for version in (1, 2, 3)]
    for version, blob in enumerate(blobs, start=1):
        small.open_amk("acc", version, blob)
    assert len(small._amks) == 2


def test_amk_context_format() -> None:
    assert amk_context("acc_1", 7) == "acc_1:7"
    with pytest.raises(ValueError, match="invalid"):
        amk_context("a:b", 1)


def test_context_repr_shows_no_secrets(ctx: EnclaveContext) -> None:
    p256, k1 = ctx.identity.secrets()
    shown = repr(ctx)
    assert p256.hex() not in shown
    assert k1.hex() not in shown
    assert "software" in shown
