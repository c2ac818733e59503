"""A local EVM chain: anvil from npm ``@foundry-rs/anvil``, Prague by default (EIP-2537 precompiles).

One :class:`EvmDevnet` is one anvil process on a free localhost port with an RPC URL, a chain id and
funded dev accounts. Used by the tests (a session fixture) and by ``nsl devnet``. anvil mines a block
for every transaction at once, so a transaction's receipt is there on the next poll.

anvil's default mnemonic gives well-known keys (``test test … junk``): a devnet holds nothing of value,
and the keys are read from anvil's ``--config-out`` file, not hard-coded here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import Wei

from neo_service_layer.chains.devnet.local_chain import HOST, LocalChain
from neo_service_layer.chains.evm.errors import DevnetFailed
from neo_service_layer.chains.evm.toolchain import find_toolchain
from neo_service_layer.chains.evm.tx import send_transaction

#: Hardfork of a devnet: Prague is the first with the BLS12-381 precompiles (EIP-2537).
DEFAULT_HARDFORK = "prague"
#: anvil's (and Hardhat's) chain id.
DEFAULT_CHAIN_ID = 31337
DEFAULT_ACCOUNTS = 10
#: Balance of each dev account in ether.
DEFAULT_BALANCE_ETHER = 10_000
DEFAULT_STARTUP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class DevAccount:
    """A funded dev account of the devnet (its key is anvil's well-known test key)."""

    address: ChecksumAddress
    private_key: str = field(repr=False)

    @property
    def signer(self) -> LocalAccount:
        """The eth-account signer for this key."""
        signer: LocalAccount = Account.from_key(self.private_key)
        return signer


class EvmDevnet(LocalChain):
    """A local anvil chain: a context manager, or :meth:`start` / :meth:`stop` (both idempotent)."""

    program = "anvil"
    log_file = "anvil.log"
    failure = DevnetFailed

    def __init__(
        self,
        *,
        hardfork: str = DEFAULT_HARDFORK,
        chain_id: int = DEFAULT_CHAIN_ID,
        accounts: int = DEFAULT_ACCOUNTS,
        balance_ether: int = DEFAULT_BALANCE_ETHER,
        anvil: Path | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_SECONDS,
        block_time: float | None = None,
        workdir: Path | None = None,
    ) -> None:
        """``block_time``: mine a block every that many seconds instead of one per transaction.

        ``workdir``: keep anvil's files (account file, log) there instead of a temporary directory that
        :meth:`stop` deletes; needed by :meth:`detach` (``nsl devnet up``).
        """
        super().__init__(startup_timeout=startup_timeout, workdir=workdir)
        self.hardfork = hardfork
        self.chain_id = chain_id
        self._n_accounts = accounts
        self._balance_ether = balance_ether
        self._anvil = anvil
        self._block_time = block_time
        self._accounts: list[DevAccount] = []

    # --- what tests and the CLI use ----------------------------------------------------------------------

    @property
    def accounts(self) -> list[DevAccount]:
        """The funded dev accounts (index 0 funds and deploys by convention)."""
        self._require_running()
        return list(self._accounts)

    def web3(self) -> Web3:
        """A web3.py client for the chain's HTTP RPC."""
        return Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": 30}))

    def fund(self, address: str, wei: int) -> None:
        """Send ``wei`` from dev account 0 to ``address`` (a real transfer, mined at once)."""
        w3 = self.web3()
        send_transaction(
            w3,
            self.accounts[0].signer,
            {"to": Web3.to_checksum_address(address), "value": Wei(wei), "gas": 21_000},
        )

    # --- the LocalChain hooks -----------------------------------------------------------------------------

    def _binary(self) -> Path:
        return self._anvil or find_toolchain().anvil

    def _argv(self, binary: Path, workdir: Path) -> list[str]:
        argv = [
            str(binary),
            "--host", HOST,
            "--port", str(self._port),
            "--chain-id", str(self.chain_id),
            "--hardfork", self.hardfork,
            "--accounts", str(self._n_accounts),
            "--balance", str(self._balance_ether),
            "--config-out", str(workdir / "config.json"),
            "--silent",
        ]  # fmt: skip
        if self._block_time is not None:
            argv += ["--block-time", str(self._block_time)]
        return argv

    def _ready(self, client: httpx.Client) -> bool:
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        try:
            reply = client.post(self._local_url, json=body).json()
        except (httpx.HTTPError, ValueError):
            return False
        if int(reply.get("result", "0x0"), 16) != self.chain_id:
            raise DevnetFailed(f"port {self._port} answers with another chain: {reply}")
        # The account file is written before the RPC server starts; checked to be sure.
        return (self.workdir / "config.json").is_file()

    def _started(self, workdir: Path) -> None:
        try:
            data = json.loads((workdir / "config.json").read_text())
            pairs = zip(data["available_accounts"], data["private_keys"], strict=True)
            self._accounts = [DevAccount(Web3.to_checksum_address(a), k) for a, k in pairs]
        except (OSError, ValueError, KeyError) as e:
            raise DevnetFailed(f"cannot read anvil's account file: {e}") from e

    def _forget(self) -> None:
        self._accounts = []
