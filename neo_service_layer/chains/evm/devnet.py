"""A local EVM chain: anvil from npm ``@foundry-rs/anvil``, Prague by default (EIP-2537 precompiles).

One :class:`EvmDevnet` is one anvil process on a free localhost port with an RPC URL, a chain id and
funded dev accounts. Used by the tests (a session fixture) and by ``nsl devnet``. anvil mines a block
for every transaction at once, so a transaction's receipt is there on the next poll.

anvil's default mnemonic gives well-known keys (``test test … junk``): a devnet holds nothing of value,
and the keys are read from anvil's ``--config-out`` file, not hard-coded here.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import Wei

from neo_service_layer.chains.devnet.processes import free_port, releasing_children
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
DEFAULT_STOP_TIMEOUT_SECONDS = 5.0
_HOST = "127.0.0.1"
# A free port is found by binding port 0 and closing it; another process may take it before anvil
# binds it, so a start that fails that way is retried on a new port.
_PORT_ATTEMPTS = 3


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


class EvmDevnet:
    """A local anvil chain: a context manager, or :meth:`start` / :meth:`stop` (both idempotent)."""

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
        self.hardfork = hardfork
        self.chain_id = chain_id
        self._n_accounts = accounts
        self._balance_ether = balance_ether
        self._anvil = anvil
        self._startup_timeout = startup_timeout
        self._block_time = block_time
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._fixed_workdir = workdir
        self._port = 0
        self._accounts: list[DevAccount] = []

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start anvil and wait until its RPC answers with the expected chain id. No-op if running."""
        if self._proc is not None:
            return
        anvil = self._anvil or find_toolchain().anvil
        if self._fixed_workdir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="nsl-anvil-")
        else:
            self._fixed_workdir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _ in range(_PORT_ATTEMPTS):
            self._port = free_port(_HOST)
            self._proc = self._spawn(anvil, self.workdir)
            try:
                self._wait_ready()
            except DevnetFailed as e:
                last_error = e.detail
                self._terminate()
                continue
            self._accounts = self._read_accounts(self.workdir / "config.json")
            return
        self._cleanup()
        raise DevnetFailed(f"anvil did not start: {last_error}")

    def stop(self) -> None:
        """Stop anvil (SIGTERM, then SIGKILL after a grace period) and delete its files. Idempotent.

        A given ``workdir`` is kept (only a temporary one is deleted); after :meth:`detach` nothing is
        stopped.
        """
        self._terminate()
        self._cleanup()

    def detach(self) -> int:
        """Leave anvil running after this object is stopped or gone (``nsl devnet up``); its pid.

        Needs a ``workdir`` (a temporary one would be deleted under the running chain). From then on
        this object no longer owns the process: :meth:`stop` is a no-op for it, and it is stopped by pid
        (``chains.devnet.processes.terminate``).
        """
        if self._fixed_workdir is None:
            raise DevnetFailed("only a devnet with a workdir can be detached")
        pid = self.pid
        with releasing_children():
            self._proc = None  # the only reference: the child keeps running
        return pid

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the anvil process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # --- what tests and the CLI use ----------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The anvil process id."""
        self._require_running()
        assert self._proc is not None
        return self._proc.pid

    @property
    def workdir(self) -> Path:
        """Where anvil's account file and log are."""
        if self._fixed_workdir is not None:
            return self._fixed_workdir
        if self._workdir is None:
            raise DevnetFailed("the devnet is not running")
        return Path(self._workdir.name)

    @property
    def rpc_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running chain."""
        self._require_running()
        return f"http://{_HOST}:{self._port}"

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

    # --- internals ---------------------------------------------------------------------------------------

    def _spawn(self, anvil: Path, workdir: Path) -> subprocess.Popen[bytes]:
        argv = [
            str(anvil),
            "--host", _HOST,
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
        log = (workdir / "anvil.log").open("ab")
        try:
            # Own process group: a Ctrl-C meant for the caller does not kill the chain mid-test.
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
        except OSError as e:
            raise DevnetFailed(f"cannot run {anvil}: {e}") from e
        finally:
            log.close()  # the child holds its own descriptor

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._startup_timeout
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        config = self.workdir / "config.json"
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise DevnetFailed(f"anvil exited with {self._proc.returncode}: {self._log_tail()}")
                try:
                    reply = client.post(f"http://{_HOST}:{self._port}", json=body).json()
                except (httpx.HTTPError, ValueError):
                    time.sleep(0.05)
                    continue
                if int(reply.get("result", "0x0"), 16) != self.chain_id:
                    raise DevnetFailed(f"port {self._port} answers with another chain: {reply}")
                if config.is_file():  # written before the RPC server starts; checked to be sure
                    return
                time.sleep(0.05)
        raise DevnetFailed(f"anvil RPC not ready after {self._startup_timeout} s: {self._log_tail()}")

    def _read_accounts(self, config: Path) -> list[DevAccount]:
        try:
            data = json.loads(config.read_text())
            pairs = zip(data["available_accounts"], data["private_keys"], strict=True)
            return [DevAccount(Web3.to_checksum_address(a), k) for a, k in pairs]
        except (OSError, ValueError, KeyError) as e:
            raise DevnetFailed(f"cannot read anvil's account file: {e}") from e

    def _log_tail(self) -> str:
        try:
            return (self.workdir / "anvil.log").read_text(errors="replace")[-500:].strip()
        except (OSError, DevnetFailed):
            return ""

    def _require_running(self) -> None:
        if not self.running:
            raise DevnetFailed("the devnet is not running")

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=DEFAULT_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _cleanup(self) -> None:
        self._accounts = []
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
