"""``amk.rewrap``: items move to a new AMK version and still open only for their account and item."""

from __future__ import annotations

import pytest

from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.opdefs.amk import REWRAP, RewrapArgs, SealedAmk, WrappedItem
from neo_service_layer.enclave.protocol import UnsealFailed
from neo_service_layer.enclave.wrapping import WrapPurpose, unwrap, wrap
from neo_service_layer.errors import EnclaveRejected, NSLError

ACCOUNT = "acc_01TESTACCOUNT"


async def test_rewrap_moves_items_to_the_new_version(ctx: EnclaveContext, client: UnixEnclaveClient) -> None:
    v1 = (await client.amk_create(ACCOUNT, 1)).sealed
    v2 = (await client.amk_create(ACCOUNT, 2)).sealed
    amk1 = ctx.open_amk(ACCOUNT, 1, v1)
    item = wrap(amk1, ACCOUNT, WrapPurpose.KEY_MATERIAL, "key_1:1", b"private material")
    result = await client.run(
        REWRAP,
        RewrapArgs(
            account_id=ACCOUNT,
            sources=[SealedAmk(version=1, sealed=v1)],
            target=SealedAmk(version=2, sealed=v2),
            items=[
                WrappedItem(purpose=WrapPurpose.KEY_MATERIAL, context="key_1:1", from_version=1, wrapped=item)
            ],
        ),
    )
    assert result.target_version == 2
    moved = result.wrapped[0]
    assert moved != item
    amk2 = ctx.open_amk(ACCOUNT, 2, v2)
    assert unwrap(amk2, ACCOUNT, WrapPurpose.KEY_MATERIAL, "key_1:1", moved) == b"private material"
    with pytest.raises(UnsealFailed):
        unwrap(amk2, ACCOUNT, WrapPurpose.KEY_MATERIAL, "key_2:1", moved)
    with pytest.raises(UnsealFailed):
        unwrap(amk2, ACCOUNT, WrapPurpose.SECRET_DEK, "key_1:1", moved)
    with pytest.raises(UnsealFailed):
        unwrap(amk1, ACCOUNT, WrapPurpose.KEY_MATERIAL, "key_1:1", moved)


@pytest.mark.parametrize(
    ("context", "from_version"),
    [("key_9:1", 1), ("key_1:1", 2)],
    ids=["item-of-another-key", "amk-version-not-given"],
)
async def test_rewrap_refuses_items_that_do_not_open(
    ctx: EnclaveContext, client: UnixEnclaveClient, context: str, from_version: int
) -> None:
    v1 = (await client.amk_create(ACCOUNT, 1)).sealed
    v3 = (await client.amk_create(ACCOUNT, 3)).sealed
    item = wrap(ctx.open_amk(ACCOUNT, 1, v1), ACCOUNT, WrapPurpose.KEY_MATERIAL, "key_1:1", b"m")
    with pytest.raises((EnclaveRejected, NSLError)) as raised:
        await client.run(
            REWRAP,
            RewrapArgs(
                account_id=ACCOUNT,
                sources=[SealedAmk(version=1, sealed=v1)],
                target=SealedAmk(version=3, sealed=v3),
                items=[
                    WrappedItem(
                        purpose=WrapPurpose.KEY_MATERIAL,
                        context=context,
                        from_version=from_version,
                        wrapped=item,
                    )
                ],
            ),
        )
    assert raised.value.code in {
        "enclave_rejected",
        "enclave_unseal_failed",
        "unseal_failed",
        "invalid_args",
    }, raised.value.code
