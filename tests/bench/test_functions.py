"""``bench/functions.py`` end to end on tiny windows: the real API, enclave, sandbox pool and HTTPS source.

What is asserted is what could go wrong in the harness, never how fast anything was: every measured
request was a run that succeeded (the API's own run counter), the fetch went through the enclave's
safe fetcher to the data source, and the report has its shape.
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from bench.cli import HarnessError
from bench.functions import (
    BARE_EVAL,
    BARE_GET,
    COLD,
    FETCH_RUN,
    FETCHER,
    SUCCEEDED,
    parse_args,
    run,
)
from bench.oracle_data_app import BODY

TINY = ["--duration", "0.3", "--warmup", "0.1", "--load-concurrency", "4", "--pool-size", "1"]


def _console() -> Console:
    return Console(file=io.StringIO(), width=200)


def test_runs_every_part_and_every_run_succeeds() -> None:
    result = run(parse_args(TINY), _console())

    rows = result["results"]
    assert [(r["target"], r["concurrency"]) for r in rows] == [
        (COLD, 1),
        (BARE_EVAL, 1),
        (COLD, 4),
        (FETCH_RUN, 1),
        (BARE_GET, 1),
        (FETCHER, 1),
    ]
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in rows)
    assert all(r["p50_ms"] <= r["p99_ms"] for r in rows)
    # The API counted every run it made (warm-ups and the two deploy checks too): all succeeded, and at
    # least as many as the measured requests — a 200 carrying a failed run would show here.
    assert result["all_runs_succeeded"] is True
    assert set(result["runs_by_status"]) == {SUCCEEDED}
    measured_runs = sum(r["requests"] for r in rows if r["target"] in (COLD, FETCH_RUN))
    assert result["runs_by_status"][SUCCEEDED] >= measured_runs + 2
    # The fetching function returned the data source's field: the fetch reached it through the enclave.
    assert result["fetch_result"] == json.loads(BODY)["data"]["price"]
    cold = result["cold_run"]
    assert cold["p50_difference_ms"] == pytest.approx(cold["api_p50_ms"] - cold["bare_p50_ms"])
    assert result["load"]["concurrency"] == 4
    assert result["info"] == result["info"] | {"database": "SQLite", "pool_size": 1}
    json.dumps(result)  # what --json writes


def test_refuses_a_database_it_must_not_drop() -> None:
    args = parse_args([*TINY, "--database-url", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"])
    with pytest.raises(HarnessError, match="nsl_bench"):
        run(args, _console())


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--pool-size", "0"], id="no-sandbox"),
        pytest.param(["--pool-size", "65"], id="pool-above-setting-maximum"),
        pytest.param(["--load-concurrency", "0"], id="no-callers"),
        pytest.param(["--database-url", "sqlite:///x.db"], id="not-postgresql"),
        pytest.param(["--profile-process", "worker"], id="unknown-profile-process"),
    ],
)
def test_refuses_bad_options(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
