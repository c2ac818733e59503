"""``functions.check`` and ``functions.run``: user JavaScript in the enclave's sandbox pool
(docs/functions.md).

The run happens in a sandbox process (``functions/pool.py``) that holds no key; what the run's trust
depends on happens here: the granted secrets are decrypted here and handed to the process as plain
values only if the writer sealed each with every domain the function may fetch (so the JavaScript
cannot send a value to a host its writer did not name), the function's ``fetch`` leaves through
``ctx.fetcher`` behind the function's allow-list (``SafeFetcherBridge``), and the result is signed
with the SHA-256 of the source and of the canonical args. That run core, :func:`run_function`, also
serves the gateway ops (``handlers/functions_chains.py``), which run a function for a contract.

Secrets never reach the host by accident: a result that holds a granted value (as is, JSON-escaped
or percent-encoded, the oracle's echo rule) is refused — the run ``failed`` with a
``SecretEchoRefused`` error — and any such value in the logs or the error is replaced by
``[redacted]``. The JavaScript can still transform a value before returning it: that is the
function author's choice, and the secret's grant is the author's own account's (docs/functions.md).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol
from urllib.parse import quote

from neo_service_layer.enclave.canonical import canonical_json
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.functions.bridge import SafeFetcherBridge
from neo_service_layer.enclave.functions.limits import LimitAboveMaximum
from neo_service_layer.enclave.functions.runs import RunError, RunRequest, RunResult, RunStatus
from neo_service_layer.enclave.handlers.secrets import resolve_secrets
from neo_service_layer.enclave.opdefs.functions import (
    CHECK,
    POOL_STATS,
    RUN,
    CheckArgs,
    CheckResult,
    Limits,
    PoolStatsResult,
    RunArgs,
    RunErrorInfo,
    RunOutcome,
)
from neo_service_layer.enclave.opdefs.secrets import ResolveArgs, StoredVersion
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.oracle.template import MIN_ECHO_CHECK_BYTES
from neo_service_layer.enclave.protocol import InvalidArgs
from neo_service_layer.enclave.schemas import NoArgs

registry = OpRegistry()

REDACTED: Final = "[redacted]"
ECHO_REFUSED: Final = "the result holds a granted secret's value: refused"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RunnableFunction(Protocol):
    """What a run needs of a function: ``functions.run``'s :class:`RunArgs` and the gateway ops'
    ``ChainFunction`` both are one."""

    @property
    def account_id(self) -> str: ...
    @property
    def function_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def limits(self) -> Limits: ...
    @property
    def allowed_domains(self) -> Sequence[str]: ...
    @property
    def secrets(self) -> Sequence[StoredVersion]: ...


def _check_grants(stored: Sequence[StoredVersion], allowed_domains: Iterable[str]) -> None:
    """Every domain the function may fetch must be one the writer sealed the secret with: the grant
    (the host's word) is not enough, the sealed hosts are bound into the ciphertext."""
    domains = sorted(set(allowed_domains))
    for version in stored:
        sealed = set(version.allowed_hosts)
        missing = [d for d in domains if d not in sealed]
        if missing:
            raise InvalidArgs(
                f"secret {version.name} may not be given to a function that fetches {missing[0]}: "
                "it was not sealed with that host"
            )


def _values(ctx: EnclaveContext, function: RunnableFunction) -> dict[str, str]:
    """The granted secrets' values by name, as text (decrypted here; never returned or logged)."""
    _check_grants(function.secrets, function.allowed_domains)
    raw = resolve_secrets(ctx, ResolveArgs(account_id=function.account_id, secrets=list(function.secrets)))
    values: dict[str, str] = {}
    for name, value in raw.items():
        try:
            values[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgs(f"secret {name} is not UTF-8 text: a function gets text only") from None
    return values


def _forms(values: Iterable[str]) -> list[str]:
    """Each value as is, JSON-escaped and percent-encoded (what a result or log could carry), longest
    first so that a value inside another is redacted with it; short values are not checked."""
    forms: set[str] = set()
    for value in values:
        if len(value.encode()) < MIN_ECHO_CHECK_BYTES:
            continue
        forms.update({value, json.dumps(value)[1:-1], quote(value, safe="")})
    return sorted(forms, key=len, reverse=True)


def _redact(text: str, forms: Sequence[str]) -> str:
    for form in forms:
        text = text.replace(form, REDACTED)
    return text


def _guarded(result: RunResult, values: Mapping[str, str]) -> RunResult:
    """``result`` with no granted value in its logs or error, refused if its result holds one."""
    forms = _forms(values.values())
    if not forms:
        return result
    error = result.error
    if error is not None:
        error = RunError(
            _redact(error.name, forms), _redact(error.message, forms), _redact(error.stack, forms)
        )
    status, value = result.status, result.result
    if value is not None and any(form in value for form in forms):
        status, value = RunStatus.FAILED, None
        error = RunError("SecretEchoRefused", ECHO_REFUSED)
    return RunResult(
        status=status,
        result=value,
        error=error,
        logs=_redact(result.logs, forms),
        logs_truncated=result.logs_truncated,
        fetches=result.fetches,
        duration_ms=result.duration_ms,
        memory_bytes=result.memory_bytes,
    )


@registry.handler(CHECK)
async def check(ctx: EnclaveContext, args: CheckArgs) -> CheckResult:
    """``functions.check``: compile the source in a sandbox process, run nothing of it."""
    checked = await ctx.sandbox.check(args.source)
    return CheckResult(ok=checked.ok, message=checked.message, line=checked.line, column=checked.column)


async def run_function(ctx: EnclaveContext, function: RunnableFunction, run_id: str, args: Any) -> RunOutcome:
    """One run of ``function`` on ``args`` (canonical JSON) as run ``run_id``: the run core that
    ``functions.run`` and the gateway ops (``handlers/functions_chains.py``) share.

    Secrets are decrypted here only if sealed for every allowed domain, ``fetch`` leaves through the
    enclave's fetcher behind the allow-list, and the result is guarded against echoing a secret.
    InvalidArgs (limits above the pool's maximums, a secret not sealed for a domain or not text) and
    UnsealFailed (a swapped or altered secret record) are raised before anything runs."""
    values = _values(ctx, function)
    bridge = SafeFetcherBridge(ctx.fetcher, frozenset(function.allowed_domains))
    request = RunRequest(
        source=function.source,
        args=args,
        secrets=values,
        limits=function.limits.run_limits(),
        tenant=function.account_id,
    )
    try:
        result = _guarded(await ctx.sandbox.run(request, bridge=bridge), values)
    except LimitAboveMaximum as exc:
        raise InvalidArgs(exc.detail) from None
    error = result.error
    return RunOutcome(
        run_id=run_id,
        function_id=function.function_id,
        version=function.version,
        source_sha256=sha256_hex(function.source.encode("utf-8")),
        args_sha256=sha256_hex(canonical_json(args)),
        status=result.status.value,
        result=result.result,
        error=None
        if error is None
        else RunErrorInfo(name=error.name, message=error.message, stack=error.stack),
        logs=result.logs,
        logs_truncated=result.logs_truncated,
        fetches=result.fetches,
        duration_ms=math.ceil(result.duration_ms),
        memory_bytes=result.memory_bytes,
    )


@registry.handler(POOL_STATS)
async def pool_stats(ctx: EnclaveContext, args: NoArgs) -> PoolStatsResult:
    """``functions.pool_stats``: how the sandbox pool stands (no run, no key: for the API's metrics)."""
    stats = ctx.sandbox.stats()
    return PoolStatsResult(size=stats.size, idle=stats.idle, replaced=stats.replaced, seccomp=stats.seccomp)


@registry.handler(RUN)
async def run(ctx: EnclaveContext, args: RunArgs) -> RunOutcome:
    """``functions.run``: one run in a fresh context, secrets and fetch as granted; signed."""
    return await run_function(ctx, args, args.run_id, args.args)
