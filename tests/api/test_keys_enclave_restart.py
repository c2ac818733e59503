"""SIGKILL the enclave process during a burst of signing: requests in flight fail with a 503 problem
(never a 500), nothing acknowledged is lost, and after a restart every key signs with the same public
key (the host kept the wrapped material and the sealed AMKs; the enclave keeps nothing)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from neo_service_layer.api.app import create_app
from neo_service_layer.config import Settings
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto import signing
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.errors import EnclaveUnavailable
from neo_service_layer.services.accounts.service import bootstrap
from tests.api.helpers import NO_RATE_LIMITS, assert_problem
from tests.conftest import make_tenant
from tests.keys_helpers import b64, create_key, unb64

pytestmark = pytest.mark.slow

PASSPHRASE = "correct horse battery staple"
SIGNING_TYPES = [KeyType.SECP256R1, KeyType.SECP256K1, KeyType.ED25519]
BURST = 240
READY_TIMEOUT = 20.0


class EnclaveRunner:
    """Enclave processes (``python -m neo_service_layer.enclave``) on one data dir; none outlives the test."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket = data_dir / "enclave" / "enclave.sock"
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NSL_")}
        env.update(NSL_DATA_DIR=str(self.data_dir), NSL_ENCLAVE_PASSPHRASE=PASSPHRASE, NSL_LOG_FORMAT="json")
        log = self.data_dir / f"enclave-{len(self.started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "neo_service_layer.enclave"], env=env, stdout=sink, stderr=sink
            )
        self.started.append(process)
        return process

    async def ready(self, process: subprocess.Popen[bytes]) -> None:
        client = UnixEnclaveClient(self.socket, timeout=5.0, pool_size=1)
        try:
            deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
            while True:
                assert process.poll() is None, "the enclave exited on start"
                try:
                    await client.ping()
                    return
                except EnclaveUnavailable:
                    assert asyncio.get_running_loop().time() < deadline, "the enclave did not start"
                    await asyncio.sleep(0.05)
        finally:
            await client.close()

    async def wait(self, process: subprocess.Popen[bytes]) -> int:
        return await asyncio.to_thread(process.wait, READY_TIMEOUT)

    def cleanup(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()  # our own child, by its handle
                process.wait()


@pytest.fixture
def runner(enclave_socket: Path) -> Iterator[EnclaveRunner]:
    """A runner on a short private directory (AF_UNIX socket paths are limited to 107 bytes)."""
    enclave_runner = EnclaveRunner(enclave_socket.parent)
    try:
        yield enclave_runner
    finally:
        enclave_runner.cleanup()


@pytest.fixture
async def api(
    tmp_path: Path, database_url: str, runner: EnclaveRunner
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An app on the test database whose enclave is ``runner``'s process; and the admin key."""
    settings = Settings(
        data_dir=tmp_path / "api",
        database_url=database_url,
        enclave={"socket": runner.socket, "timeout_seconds": 5.0},
        log_format="console",
        rate_limits=NO_RATE_LIMITS,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nsl.test", timeout=30.0) as client:
            async with app.state.nsl.db.transaction() as session:
                issued = await bootstrap(session)
            assert issued is not None
            yield client, issued.plaintext


def _verifies(key_type: KeyType, public_hex: str, message: bytes, signature_hex: str) -> bool:
    return signing.verify(
        key_type,
        bytes.fromhex(public_hex),
        message,
        bytes.fromhex(signature_hex),
        hash_alg=key_type.default_hash or HashAlgorithm.NONE,
        fmt=SignatureFormat.RAW,
    )


async def test_sigkill_mid_burst_loses_nothing(
    runner: EnclaveRunner, api: tuple[httpx.AsyncClient, str]
) -> None:
    client, admin_key = api
    first = runner.start()
    await runner.ready(first)
    tenant = await make_tenant(client, admin_key, "acme")
    headers = tenant.headers
    keys = {kt: await create_key(client, headers, kt.value) for kt in SIGNING_TYPES}
    aes = await create_key(client, headers, "aes256-gcm")
    public = {kt: key["versions"][0]["public_key"] for kt, key in keys.items()}
    sealed_before = (
        await client.post(f"/v1/keys/{aes['id']}/encrypt", json={"plaintext": b64(b"kept")}, headers=headers)
    ).json()

    message = b"burst"

    answered = 0
    part_through = asyncio.Event()

    async def sign(kt: KeyType) -> httpx.Response:
        nonlocal answered
        response = await client.post(
            f"/v1/keys/{keys[kt]['id']}/sign", json={"message": b64(message)}, headers=headers
        )
        answered += 1
        if answered >= BURST // 10:
            part_through.set()
        return response

    burst = [asyncio.create_task(sign(SIGNING_TYPES[i % 3])) for i in range(BURST)]
    await part_through.wait()  # a tenth of the burst is answered: kill the enclave under the rest
    first.send_signal(signal.SIGKILL)
    assert await runner.wait(first) == -signal.SIGKILL
    # Requests already past the enclave finish (their audit entries commit in batches); the rest,
    # and every request sent while it is down, get a 503 problem — never a 500.
    after_kill = [asyncio.create_task(sign(SIGNING_TYPES[i % 3])) for i in range(BURST // 10)]
    responses = await asyncio.gather(*burst, *after_kill)
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= BURST // 10, statuses
    assert statuses[503] >= BURST // 10, f"requests sent while the enclave was down: {statuses}"
    for response in responses:
        if response.status_code == 503:
            assert_problem(response, 503, "enclave_unavailable")
        else:
            kt = KeyType(_type_of(keys, response))
            assert _verifies(kt, public[kt], message, response.json()["signature"])
    # While the enclave is down: creating a key is a 503 and leaves nothing half-made.
    down = await client.post("/v1/keys", json={"name": "during-outage", "type": "ed25519"}, headers=headers)
    assert_problem(down, 503, "enclave_unavailable")

    second = runner.start()
    await runner.ready(second)
    listed = (await client.get("/v1/keys", headers=headers)).json()["items"]
    assert sorted(k["id"] for k in listed) == sorted([*(k["id"] for k in keys.values()), aes["id"]])
    for kt, key in keys.items():
        after = await sign(kt)
        assert after.status_code == 200, after.text
        assert after.json()["public_key"] == public[kt]
        assert _verifies(kt, public[kt], message, after.json()["signature"])
        got = (await client.get(f"/v1/keys/{key['id']}", headers=headers)).json()
        assert got["versions"][0]["public_key"] == public[kt]
    opened = await client.post(
        f"/v1/keys/{aes['id']}/decrypt", json={"ciphertext": sealed_before["ciphertext"]}, headers=headers
    )
    assert unb64(opened.json()["plaintext"]) == b"kept"
    second.send_signal(signal.SIGTERM)
    assert await runner.wait(second) == 0


def _type_of(keys: dict[KeyType, dict[str, object]], response: httpx.Response) -> str:
    key_id = response.json()["key_id"]
    return next(kt.value for kt, key in keys.items() if key["id"] == key_id)
