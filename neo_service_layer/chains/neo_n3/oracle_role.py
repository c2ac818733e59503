"""Designate Neo N3 oracle nodes: RoleManagement ``designateAsRole(Oracle = 8, [public keys])``, signed by
the committee (neo-go ``pkg/core/native/designate.go``; the designation takes effect from the next block).

``nsl devnet up`` designates the enclave's N3 oracle key (``chains.n3_oracle_public_key``) so that the
devnet's native oracle requests are answered by NSL (docs/oracle.md §9).
"""

from __future__ import annotations

from collections.abc import Sequence

from neo3.api.wrappers import DesignateRole, GenericContract
from neo3.contracts import contract
from neo3.core import cryptography as neo_crypto
from neo3.wallet import account

from neo_service_layer.chains.neo_n3.devnet import facade_for
from neo_service_layer.chains.neo_n3.errors import N3TransactionFailed


async def designate_oracle_nodes(
    rpc_url: str, committee: account.Account, public_keys: Sequence[bytes]
) -> int:
    """Make ``public_keys`` the oracle nodes; the block the designation was made in (it applies from the
    next one). ``committee`` is the committee's multi-signature account (a devnet's 1-of-1)."""
    points = [neo_crypto.ECPoint(key, neo_crypto.ECCCurve.SECP256R1, True) for key in public_keys]  # type: ignore[no-untyped-call]
    role_management = GenericContract(contract.CONTRACT_HASHES.ROLE_MANAGEMENT)
    call = role_management.call_function("designateAsRole", [int(DesignateRole.ORACLE), points])
    receipt = await facade_for(rpc_url, committee).invoke_multi([call])
    if str(receipt.state) != "HALT":
        raise N3TransactionFailed(f"designateAsRole failed: {receipt.state} {receipt.exception}")
    return int(receipt.included_in_block)
