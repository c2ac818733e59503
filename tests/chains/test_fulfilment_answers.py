"""``FulfilmentStore.record_answer`` / ``confirm`` / ``fail`` (``chains/fulfilments.py``) on both
databases: the enclave is asked once per request, racing fulfillers send the answer recorded first, a
confirmed row says what landed and a failed one why. The chain flows that rely on it are in
``evm/test_oracle.py`` and ``neo_n3/test_oracle.py``."""

from __future__ import annotations

import asyncio

from neo_service_layer.chains.fulfilments import FulfilmentStatus, FulfilmentStore
from neo_service_layer.db.session import Database

KEY = "ab" * 32


class Enclave:
    """Answers differently every time it is asked (as the web may), and counts the questions."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.asked = 0
        self.gate = gate
        self.asked_twice = asyncio.Event()

    async def answer(self) -> tuple[bytes, bytes]:
        self.asked += 1
        n = self.asked
        if n == 2:
            self.asked_twice.set()
        if self.gate is not None:
            await self.gate.wait()
        return b"result-%d" % n, b"signature-%d" % n


async def test_the_enclave_is_asked_once_per_request(db: Database) -> None:
    store = FulfilmentStore(db, "evm:1")
    await store.ensure(KEY, "oracle", 0)
    enclave = Enclave()

    first = await store.record_answer(KEY, enclave.answer)
    again = await store.record_answer(KEY, enclave.answer)

    assert first == again == (b"result-1", b"signature-1")
    assert enclave.asked == 1
    row = await store.get(KEY)
    assert (row.result, row.signature) == first


async def test_racing_fulfillers_send_the_answer_recorded_first(db: Database) -> None:
    """Both read an empty row and ask the enclave; whichever records first, both return its answer."""
    store = FulfilmentStore(db, "evm:1")
    await store.ensure(KEY, "oracle", 0)
    gate = asyncio.Event()
    enclave = Enclave(gate)

    racing = [asyncio.create_task(store.record_answer(KEY, enclave.answer)) for _ in range(2)]
    await enclave.asked_twice.wait()  # both read an empty row
    gate.set()
    answers = await asyncio.gather(*racing)

    assert enclave.asked == 2
    assert answers[0] == answers[1]
    row = await store.get(KEY)
    assert (row.result, row.signature) == answers[0]


async def test_a_confirmed_row_says_what_landed(db: Database) -> None:
    store = FulfilmentStore(db, "n3:1")
    for key in ("ours", "theirs", "no-evidence"):
        await store.ensure(key, "oracle", 0)
        await store.record_answer(key, Enclave().answer)

    ours = await store.confirm("ours", b"result-1", tx_hash="0x01")
    theirs = await store.confirm("theirs", b"someone else's answer", tx_hash="0x02")
    unknown = await store.confirm("no-evidence", None, tx_hash=None)

    assert [r.status for r in (ours, theirs, unknown)] == [FulfilmentStatus.CONFIRMED] * 3
    assert (ours.result, ours.signature) == (b"result-1", b"signature-1")
    assert (theirs.result, theirs.signature) == (b"someone else's answer", None)
    assert (unknown.result, unknown.signature) == (b"result-1", b"signature-1")


async def test_a_failed_row_keeps_its_reason_detail_and_evidence(db: Database) -> None:
    store = FulfilmentStore(db, "evm:1")
    await store.ensure(KEY, "oracle", 0)

    failed = await store.fail(KEY, "tx_reverted", "Callback ran out of gas", tx_hash="0x03", block_number=7)

    row = await store.get(KEY)
    assert failed.status is row.status is FulfilmentStatus.FAILED
    assert (row.failure_reason, row.failure_detail) == ("tx_reverted", "Callback ran out of gas")
    assert (row.tx_hash, row.block_number) == ("0x03", 7)
    assert row.finished_at is not None
