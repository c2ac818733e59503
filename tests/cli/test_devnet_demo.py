"""``nsl devnet demo`` end to end: the session's devnet (conftest), a real ``nsl serve`` on its data
directory (enclave, API, worker), and the demo as a real process, as a newcomer runs them.

Randomness on both chains in both modes is checked against the chains themselves: the consumer's
stored value, the gateway's VRF key, and the printed verification command run on its own. The oracle
demo fetches from a local HTTPS server (tests never touch the internet): the enclave's answer (code and
filtered data) reaches the consumer on both chains. The functions demo calls a function it deploys in
the system account from the example FunctionsConsumer of each chain.
"""

from __future__ import annotations

import base64
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from neo_service_layer.chains.devnet.processes import free_port
from neo_service_layer.chains.evm.build import build_contracts
from neo_service_layer.chains.evm.deploy import contract_at
from neo_service_layer.devnet.local_tls import LocalPKI
from tests.cli.devnet_helpers import ROOT, Devnet, feed_latest, nsl, rpc
from tests.cli.test_serve import Served, start, stop

pytestmark = pytest.mark.slow
SEED = "0x6e736c2d64656d6f"  # "nsl-demo"
PRICE = b'{"symbol": "NEOUSDT", "price": "12.34"}'
FIELD = re.compile(r"^(?P<name>[a-z ]+?) {2,}(?P<value>.*)$", re.MULTILINE)


def fields(output: str) -> dict[str, list[str]]:
    """The report's ``name   value`` lines, by name (a name may repeat: ``verified``)."""
    found: dict[str, list[str]] = {}
    for m in FIELD.finditer(output):
        found.setdefault(m["name"].strip(), []).append(m["value"])
    return found


def test_without_nsl_serve_the_demo_says_so(devnet: Devnet) -> None:
    """Runs before ``served`` starts the platform: the request is sent, nothing answers it."""
    result = devnet.nsl("demo", "randomness", "--chain", "n3", "--timeout", "2")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "[demo_no_fulfilment] no fulfilment after 2 s: is `nsl serve` running" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.stderr


@dataclass
class Web:
    """A local HTTPS JSON server (its own CA, devnet.local_tls) the enclave may fetch from: nsl serve runs
    with NSL_ORACLE_ALLOW_PRIVATE_HOSTS and NSL_ORACLE_CA_FILE, as a devnet operator would set them."""

    url: str
    ca_file: Path
    paths: list[str] = field(default_factory=list)  # what the enclave asked for


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    directory = tmp_path_factory.mktemp("web")
    pki = LocalPKI.issue()
    ca_file, _, _ = pki.write(directory)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body, status = (PRICE, 200) if self.path == "/price" else (b'{"error": "no"}', 404)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on ``seen``."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = pki.server_context(directory).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Web(f"https://127.0.0.1:{server.server_address[1]}", ca_file, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(devnet: Devnet, web: Web) -> Iterator[Served]:
    """``nsl serve`` on the devnet's data directory: it reads the chains from the NSL config ``up`` wrote.
    Its fetcher trusts this module's web server and the devnet's exchange simulator (one PEM bundle), so
    the worker's price feed polls keep working beside the oracle requests."""
    bundle = web.ca_file.with_name("bundle.pem")
    bundle.write_bytes(web.ca_file.read_bytes() + Path(devnet.state()["exchanges"]["ca_file"]).read_bytes())
    oracle = {"NSL_ORACLE_ALLOW_PRIVATE_HOSTS": "true", "NSL_ORACLE_CA_FILE": str(bundle)}
    instance = start(devnet.data_dir, free_port(), oracle)
    try:
        instance.wait_for("NSL is running at")
        yield instance
    finally:
        stop(instance)


@pytest.mark.parametrize(
    ("chain", "mode"),
    [
        pytest.param("evm", [], id="evm-onchain-verify"),
        pytest.param("n3", [], id="n3-onchain-verify"),
        pytest.param("evm", ["--signature-only"], id="evm-signature-only"),
    ],
)
def test_randomness_demo(devnet: Devnet, served: Served, chain: str, mode: list[str]) -> None:
    result = devnet.nsl("demo", "randomness", "--chain", chain, "--seed", SEED, *mode)
    assert result.returncode == 0, result.stdout + result.stderr + served.output()[-3000:]
    shown = fields(result.stdout)
    assert shown["seed"] == [SEED]
    beta = shown["random value"][0].split()[0]
    assert re.fullmatch(r"0x[0-9a-f]{64}", beta)
    assert shown["consumer"] == [f"stored {beta}  (= beta)"]
    assert shown["fulfilled"][0].endswith("callback succeeded")
    verified = shown["verified"]
    assert verified[-1].endswith("== beta: yes")
    assert verified[0].startswith("ON CHAIN" if not mode else "by the enclave's signature only")

    # What the consumer stored, read from the chain here rather than from the demo's output.
    request_id = shown["request id"][0]
    state = devnet.state()
    if chain == "evm":
        w3 = Web3(Web3.HTTPProvider(state["evm"]["rpc_url"]))
        address = state["evm"]["contracts"]["examples"]["RandomnessConsumer"]
        consumer = contract_at(w3, build_contracts()["RandomnessConsumer"], address)
        requested, fulfilled, on_chain, value = consumer.functions.draws(bytes.fromhex(request_id[2:])).call()
        assert (requested, fulfilled, on_chain) == (True, True, not mode)
        assert "0x" + bytes(value).hex() == beta
    else:
        n3 = state["n3"]
        consumer_hash = n3["contracts"]["examples"]["RandomnessConsumer"]
        args = [{"type": "Integer", "value": request_id}]
        reply = rpc(n3["rpc_url"], "invokefunction", [consumer_hash, "get_randomness", args])
        assert "0x" + base64.b64decode(reply["stack"][0]["value"]).hex() == beta

    # The printed command re-verifies the proof on its own and prints beta.
    command = next(line for line in result.stdout.splitlines() if "dyvrf.verify(bytes" in line)
    argv = shlex.split(command.strip())
    assert argv[:2] == ["python", "-c"]
    check = subprocess.run(
        [sys.executable, "-c", argv[2]], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "0x" + check.stdout.strip() == beta


UINT256_1234 = "0x" + (1_234_000_000).to_bytes(32, "big").hex()


@pytest.mark.parametrize(
    ("chain", "path", "extra", "code", "data"),
    [
        pytest.param("evm", "/price", [], "Success (0x00)", """'["12.34"]'  (9 bytes)""", id="evm-success"),
        pytest.param("n3", "/price", [], "Success (0x00)", """'["12.34"]'  (9 bytes)""", id="n3-success"),
        pytest.param("n3", "/gone", [], "NotFound (0x14)", "''  (0 bytes)", id="n3-not-found"),
        pytest.param(
            "evm",
            "/price",
            ["--extract", "uint256:8"],
            "Success (0x00)",
            f"{UINT256_1234}  (32 bytes)",
            id="evm-typed-uint256",
        ),
    ],
)
def test_oracle_demo(
    devnet: Devnet, served: Served, web: Web, chain: str, path: str, extra: list[str], code: str, data: str
) -> None:
    url = web.url + path
    result = devnet.nsl("demo", "oracle", "--chain", chain, "--url", url, "--filter", "$.price", *extra)
    assert result.returncode == 0, result.stdout + result.stderr + served.output()[-3000:]
    shown = fields(result.stdout)
    assert shown["url"] == [url]
    assert shown["filter"] == ["$.price"]
    assert shown["code"] == [code]
    assert shown["data"] == [data]
    assert shown["fulfilled"][0].endswith("callback succeeded")
    assert path in web.paths  # fetched from this server, by the enclave
    if extra:
        assert shown["extract"] == ["uint256:8"]
        assert shown["value"] == ["1234000000  (= 12.34000000 with 8 decimals)"]


@pytest.mark.parametrize("chain", ["evm", "n3"])
def test_functions_demo(devnet: Devnet, served: Served, chain: str) -> None:
    """The demo function is deployed by the first run and gets the other chain's consumer added by the
    second; each call runs the pinned source in the enclave and the consumer keeps the result."""
    # The demo deploys through nsl serve's enclave: the socket this test's serve listens on.
    assert served.socket_dir is not None
    env = {**devnet.env, "NSL_ENCLAVE_SOCKET": str(served.socket_dir / "enclave.sock")}
    result = nsl(env, "demo", "functions", "--chain", chain, "--args", '{"a": 20, "b": 22}')
    assert result.returncode == 0, result.stdout + result.stderr + served.output()[-3000:]
    shown = fields(result.stdout)
    assert shown["code"] == ["Success"]
    assert shown["data"] == ["""'{"sum":42}'"""]
    assert shown["args"] == ['{"a": 20, "b": 22}']
    pinned = shown["pinned"][0].removeprefix("sha256 ")
    assert shown["ran"] == [f"sha256 {pinned}  (= the pinned source)"]
    assert shown["consumer"] == ["stored code 0 and the same data"]
    assert shown["fulfilled"][0].endswith("callback succeeded")
    assert re.fullmatch(r"fn_[0-9A-Z]{26} \(version 1; nsl devnet's system account\)", shown["function"][0])


def test_nsl_serve_publishes_the_devnet_feeds_on_both_chains(devnet: Devnet, served: Served) -> None:
    """What ``up`` configured is enough: the worker's tick polls the four feeds (due at once) and each
    gets a round on both chains, at the simulator's price (12.21 NEO/USD, walking ±0.2 % per 5 s)."""
    deadline = time.monotonic() + 90
    pending = {
        (chain, pair) for chain in ("evm", "n3") for pair in ("NEO/USD", "GAS/USD", "BTC/USD", "ETH/USD")
    }
    found = {}
    while pending and time.monotonic() < deadline:
        for key in sorted(pending):
            latest = feed_latest(devnet, *key)
            if latest is not None:
                found[key] = latest
                pending.discard(key)
        time.sleep(1)
    assert not pending, f"no round for {sorted(pending)}: " + served.output()[-3000:]
    for key, (round_id, answer, _observed_at) in found.items():
        assert round_id >= 1, key
        assert answer > 0, key
