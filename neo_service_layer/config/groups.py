"""The groups of settings: ``settings.evm``, ``.n3``, ``.jobs``, ``.rate_limits``, ``.enclave``, ``.audit``,
``.oracle``, ``.pricefeed``.

Each group is a :class:`SettingsGroup`; each of its fields keeps the flat name it had before the
grouping (:meth:`SettingsGroup.flat_name`, e.g. ``evm.rpc_url`` ↔ ``evm_rpc_url``), which is what the
environment (``NSL_EVM_RPC_URL``), systemd credentials (``nsl_evm_rpc_url``) and the top level of the TOML
file use (``config/flat.py``). A new group (the oracle's, issue 14): a subclass here with its
``flat_prefix``, a field on ``Settings``, its rows in docs/configuration.md, a case in
tests/config/test_flat.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

DEFAULT_EVM_CONFIRMATIONS = 1
DEFAULT_EVM_POLL_SECONDS = 1.0
DEFAULT_EVM_FULFIL_REPLACE_SECONDS = 30.0
DEFAULT_EVM_FULFIL_MAX_REPLACEMENTS = 5
DEFAULT_EVM_FULFIL_TIMEOUT_SECONDS = 300.0
DEFAULT_EVM_FULFIL_POLL_SECONDS = 0.25
#: What one price round may cost the relayer at most (gas limit x max fee per gas), in wei: 0.02 GAS, so
#: ~155 gwei per gas for a transmit (107k gas for a feed's first round, 90k after; +20 % margin in the
#: limit). No one pays for a round yet (the gas bank, later): the platform does, up to this.
DEFAULT_EVM_PRICEFEED_MAX_FEE_WEI = 2 * 10**16
#: How long a price round observed after the chain's latest block waits for a block that late (see
#: ``chains.evm.price_publisher``): a block or two of a live chain.
DEFAULT_EVM_PRICEFEED_OBSERVATION_WAIT_SECONDS = 10.0
#: Above 100 GAS a round, the value is a unit mistake (GAS or gwei taken for wei), not a budget.
MAX_EVM_PRICEFEED_MAX_FEE_WEI = 10**20

DEFAULT_N3_CONFIRMATIONS = 0
DEFAULT_N3_POLL_SECONDS = 1.0
DEFAULT_N3_FULFIL_VALID_BLOCKS = 20
#: MainNet's MaxValidUntilBlockIncrement (neo-go ``config.ProtocolConfiguration``: 86400 s / 15 s blocks).
MAX_N3_FULFIL_VALID_BLOCKS = 5760
DEFAULT_N3_FULFIL_MAX_RESENDS = 3
DEFAULT_N3_FULFIL_POLL_SECONDS = 0.25
DEFAULT_N3_FULFIL_TIMEOUT_SECONDS = 600.0
#: What one N3 price round may cost the relayer at most (system + network fee), in datoshi: 0.5 GAS, ~1.8x
#: a transmit (0.260 GAS system fee for a pair's first round, 0.251 after, + 0.013 network fee).
DEFAULT_N3_PRICEFEED_MAX_FEE = 50_000_000
#: Above 100 GAS a round, the value is a unit mistake (GAS taken for datoshi), not a budget.
MAX_N3_PRICEFEED_MAX_FEE = 10**10

DEFAULT_JOB_MAX_ATTEMPTS = 8
DEFAULT_JOB_LEASE_SECONDS = 60.0
DEFAULT_JOB_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_JOB_BACKOFF_MAX_SECONDS = 300.0
DEFAULT_WORKER_CONCURRENCY = 4
DEFAULT_WORKER_POLL_SECONDS = 0.5
DEFAULT_SCHEDULER_LOCK_SECONDS = 30.0

DEFAULT_RATE_LIMIT_KEY_PER_SECOND = 50.0
DEFAULT_RATE_LIMIT_KEY_BURST = 100
DEFAULT_RATE_LIMIT_ACCOUNT_PER_SECOND = 200.0
DEFAULT_RATE_LIMIT_ACCOUNT_BURST = 400

DEFAULT_ENCLAVE_TIMEOUT_SECONDS = 10.0
DEFAULT_ENCLAVE_MAX_CONNECTIONS = 128
DEFAULT_ENCLAVE_MAX_IN_FLIGHT_BYTES = 128 * 1024 * 1024
DEFAULT_ENCLAVE_MAX_CONNECTION_BYTES = 32 * 1024 * 1024
#: One frame of the largest size (enclave.protocol.MAX_FRAME_BYTES) must fit in every budget.
MIN_ENCLAVE_IN_FLIGHT_BYTES = 8 * 1024 * 1024

DEFAULT_AUDIT_CHECKPOINT_EVERY_ENTRIES = 1000
DEFAULT_AUDIT_CHECKPOINT_INTERVAL_SECONDS = 300.0
DEFAULT_AUDIT_BATCH_LINGER_SECONDS = 0.001
# Longer than any batch should take (a busy writer commits in milliseconds); a writer that hangs beyond
# it fails its requests (503) instead of holding them.
DEFAULT_AUDIT_RELAY_TIMEOUT_SECONDS = 10.0

DEFAULT_ORACLE_TIMEOUT_SECONDS = 5.0
#: N3's MaxOracleResultSize (neo-go pkg/core/transaction/oracle.go).
DEFAULT_ORACLE_MAX_RESPONSE_BYTES = 0xFFFF
DEFAULT_ORACLE_ALLOWED_CONTENT_TYPES = ("application/json",)
DEFAULT_ORACLE_MAX_CONCURRENT_PER_HOST = 4
DEFAULT_ORACLE_MAX_CONCURRENT_PER_ACCOUNT = 16
DEFAULT_ORACLE_PER_HOST_RATE_PER_SECOND = 10.0
DEFAULT_ORACLE_PER_HOST_BURST = 20

DEFAULT_PRICEFEED_TICK_SECONDS = 5.0
DEFAULT_PRICEFEED_DECIMALS = 8
DEFAULT_PRICEFEED_MIN_SOURCES = 3
DEFAULT_PRICEFEED_MAX_QUOTE_AGE_SECONDS = 120
#: Median absolute deviations from the median beyond which a quote is an outlier (decimal text).
DEFAULT_PRICEFEED_OUTLIER_MAD_K = "5"
DEFAULT_PRICEFEED_MAX_SPREAD_BPS = 200
#: 0.5 %, as Chainlink's usual crypto/USD feeds.
DEFAULT_PRICEFEED_DEVIATION_BPS = 50
DEFAULT_PRICEFEED_HEARTBEAT_SECONDS = 3600
DEFAULT_PRICEFEED_POLL_INTERVAL_SECONDS = 30
#: A move of more than 20 % must be seen by two polls in a row before it is published.
DEFAULT_PRICEFEED_BREAKER_BPS = 2000

EnclaveBackend = Literal["auto", "software", "tdx", "sgx"]


class SettingsGroup(BaseModel):
    """A group of settings under one attribute of ``Settings``, its fields known by flat names too.

    The flat name of a field is ``flat_prefix`` + its name, or its name alone when it is in
    ``unprefixed`` (settings that joined a group without its prefix, e.g. ``jobs.worker_concurrency``).
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    flat_prefix: ClassVar[str]
    unprefixed: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def flat_name(cls, field: str) -> str:
        """The name of ``field`` outside the group: ``NSL_<FLAT NAME>``, ``nsl_<flat name>``, TOML key."""
        return field if field in cls.unprefixed else cls.flat_prefix + field


class EvmSettings(SettingsGroup):
    """The EVM (Neo X) chain: its watcher and fulfiller (``NSL_EVM_*``, docs/chains-evm.md)."""

    flat_prefix = "evm_"

    rpc_url: str | None = Field(default=None, description="EVM (Neo X) JSON-RPC; enables the chain watcher.")
    gateway_address: str | None = Field(default=None, description="The NSLGateway contract to watch.")
    confirmations: int = Field(
        default=DEFAULT_EVM_CONFIRMATIONS, ge=0, description="Blocks on top of a request before it is served."
    )
    start_block: int = Field(default=0, ge=0, description="First block to scan when no cursor is stored.")
    poll_seconds: float = Field(default=DEFAULT_EVM_POLL_SECONDS, gt=0)
    fulfil_replace_seconds: float = Field(
        default=DEFAULT_EVM_FULFIL_REPLACE_SECONDS,
        gt=0,
        description="A fulfilment not mined this long is re-sent with the same nonce and fees +12.5%.",
    )
    fulfil_max_replacements: int = Field(default=DEFAULT_EVM_FULFIL_MAX_REPLACEMENTS, ge=0)
    fulfil_timeout_seconds: float = Field(
        default=DEFAULT_EVM_FULFIL_TIMEOUT_SECONDS,
        gt=0,
        description="How long one job attempt waits for a receipt before it is retried later.",
    )
    fulfil_poll_seconds: float = Field(default=DEFAULT_EVM_FULFIL_POLL_SECONDS, gt=0)
    pricefeed_max_fee_wei: int = Field(
        default=DEFAULT_EVM_PRICEFEED_MAX_FEE_WEI,
        gt=0,
        le=MAX_EVM_PRICEFEED_MAX_FEE_WEI,
        description="The most one price-feed round may cost the relayer, in wei (gas limit x max fee per "
        "gas, fee bumps included); a round that does not fit waits for lower gas prices.",
    )
    pricefeed_observation_wait_seconds: float = Field(
        default=DEFAULT_EVM_PRICEFEED_OBSERVATION_WAIT_SECONDS,
        ge=0,
        le=120,
        description="How long a price round observed after the chain's latest block waits for a block "
        "that late before it is left to the next poll (the contract takes no observation from after its "
        "block, and a fresh one usually is).",
    )


class N3Settings(SettingsGroup):
    """The Neo N3 chain: its watcher and fulfiller (``NSL_N3_*``, docs/chains-neo-n3.md)."""

    flat_prefix = "n3_"

    rpc_url: str | None = Field(default=None, description="Neo N3 JSON-RPC; enables the N3 chain watcher.")
    gateway_hash: str | None = Field(
        default=None, description="The N3 gateway contract's script hash (0x…, big-endian) to watch."
    )
    confirmations: int = Field(
        default=DEFAULT_N3_CONFIRMATIONS,
        ge=0,
        description="Blocks on top of a request before it is served (dBFT blocks are final: 0 is safe).",
    )
    start_block: int = Field(default=0, ge=0, description="First N3 block to scan with no cursor.")
    poll_seconds: float = Field(default=DEFAULT_N3_POLL_SECONDS, gt=0)
    native_oracle: bool = Field(
        default=False,
        description="Answer the native OracleContract's requests as an oracle node (the enclave's N3 "
        "oracle key must be designated for the Oracle role; docs/oracle.md §9). Needs only rpc_url.",
    )
    native_oracle_peers: list[str] = Field(
        default_factory=list,
        description="JSON-RPC URLs of the other designated oracle nodes, which take this node's "
        "signatures (submitoracleresponse) when several nodes are designated.",
    )
    fulfil_valid_blocks: int = Field(
        default=DEFAULT_N3_FULFIL_VALID_BLOCKS,
        ge=1,
        le=MAX_N3_FULFIL_VALID_BLOCKS,
        description="A fulfilment transaction's valid_until_block is the block count + this "
        "(20 = ~20 s on a 1 s devnet, 5 min on MainNet's 15 s blocks); an expired one is re-sent.",
    )
    fulfil_max_resends: int = Field(
        default=DEFAULT_N3_FULFIL_MAX_RESENDS,
        ge=0,
        description="Rebuilds of a fulfilment transaction that expired unincluded, per job attempt.",
    )
    fulfil_poll_seconds: float = Field(
        default=DEFAULT_N3_FULFIL_POLL_SECONDS,
        gt=0,
        description="How often a fulfilment attempt polls for its transaction's application log.",
    )
    fulfil_timeout_seconds: float = Field(
        default=DEFAULT_N3_FULFIL_TIMEOUT_SECONDS,
        gt=0,
        description="How long one job attempt waits for inclusion before it is retried later.",
    )
    pricefeed_max_fee: int = Field(
        default=DEFAULT_N3_PRICEFEED_MAX_FEE,
        gt=0,
        le=MAX_N3_PRICEFEED_MAX_FEE,
        description="The most one price-feed round may cost the relayer, in datoshi (system + network "
        "fee); a transmit costing more is never signed (it fails fee_cap_exceeded).",
    )


class JobSettings(SettingsGroup):
    """The job queue, its workers and the scheduler (``NSL_JOB_*``, ``NSL_WORKER_*``, ``NSL_SCHEDULER_*``)."""

    flat_prefix = "job_"
    unprefixed = frozenset({"worker_concurrency", "worker_poll_seconds", "scheduler_lock_seconds"})

    max_attempts: int = Field(default=DEFAULT_JOB_MAX_ATTEMPTS, ge=1)
    lease_seconds: float = Field(default=DEFAULT_JOB_LEASE_SECONDS, gt=0)
    backoff_base_seconds: float = Field(default=DEFAULT_JOB_BACKOFF_BASE_SECONDS, ge=0)
    backoff_max_seconds: float = Field(default=DEFAULT_JOB_BACKOFF_MAX_SECONDS, ge=0)
    worker_concurrency: int = Field(default=DEFAULT_WORKER_CONCURRENCY, ge=1)
    worker_poll_seconds: float = Field(default=DEFAULT_WORKER_POLL_SECONDS, gt=0)
    scheduler_lock_seconds: float = Field(default=DEFAULT_SCHEDULER_LOCK_SECONDS, gt=0)


class RateLimitSettings(SettingsGroup):
    """Token buckets of the API, per key and per account (``NSL_RATE_LIMIT_*``)."""

    flat_prefix = "rate_limit_"

    key_per_second: float = Field(default=DEFAULT_RATE_LIMIT_KEY_PER_SECOND, gt=0)
    key_burst: int = Field(default=DEFAULT_RATE_LIMIT_KEY_BURST, ge=1)
    account_per_second: float = Field(default=DEFAULT_RATE_LIMIT_ACCOUNT_PER_SECOND, gt=0)
    account_burst: int = Field(default=DEFAULT_RATE_LIMIT_ACCOUNT_BURST, ge=1)


class EnclaveSettings(SettingsGroup):
    """The enclave process and its clients (``NSL_ENCLAVE_*``, docs/enclave.md)."""

    flat_prefix = "enclave_"

    backend: EnclaveBackend = Field(
        default="auto", description="TEE backend; auto picks sgx/tdx when the device exists, else software."
    )
    socket: Path | None = Field(
        default=None, description="Unix socket; default <data_dir>/enclave/enclave.sock"
    )
    state_dir: Path | None = Field(default=None, description="Sealed state; default <data_dir>/enclave")
    passphrase: SecretStr | None = Field(
        default=None, description="Derives the software sealing key (scrypt)."
    )
    key_file: Path | None = Field(
        default=None, description="32-byte sealing key file (mode 0600); default <state_dir>/sealing.key"
    )
    timeout_seconds: float = Field(default=DEFAULT_ENCLAVE_TIMEOUT_SECONDS, gt=0)
    socket_group: str | None = Field(
        default=None,
        description="Group (name or gid) allowed to connect: socket 0660 and its directory 0710 in that "
        "group, for an enclave that runs as its own user (docs/deployment.md). Default: owner only.",
    )
    max_connections: int = Field(
        default=DEFAULT_ENCLAVE_MAX_CONNECTIONS, ge=1, description="Connections beyond it get 'busy'."
    )
    max_in_flight_bytes: int = Field(
        default=DEFAULT_ENCLAVE_MAX_IN_FLIGHT_BYTES,
        ge=MIN_ENCLAVE_IN_FLIGHT_BYTES,
        description="Request bytes the enclave holds at once over all connections; beyond: 'busy'.",
    )
    max_connection_bytes: int = Field(
        default=DEFAULT_ENCLAVE_MAX_CONNECTION_BYTES,
        ge=MIN_ENCLAVE_IN_FLIGHT_BYTES,
        description="Request bytes the enclave holds at once for one connection; beyond: 'busy'.",
    )
    sandbox_pool_size: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Sandbox processes the enclave starts for functions (docs/functions.md); 0: none, "
        "and the functions ops refuse with capability_unavailable.",
    )

    @model_validator(mode="after")
    def _budgets(self) -> Self:
        if self.max_connection_bytes > self.max_in_flight_bytes:
            raise ValueError(
                "enclave.max_connection_bytes (NSL_ENCLAVE_MAX_CONNECTION_BYTES) must not exceed "
                "enclave.max_in_flight_bytes (NSL_ENCLAVE_MAX_IN_FLIGHT_BYTES)"
            )
        return self


class AuditSettings(SettingsGroup):
    """Signed checkpoints of the audit chain and their anchors on chain (``NSL_AUDIT_*``, docs/audit.md)."""

    flat_prefix = "audit_"

    checkpoint_every_entries: int = Field(
        default=DEFAULT_AUDIT_CHECKPOINT_EVERY_ENTRIES,
        ge=1,
        description="The enclave signs a checkpoint of the audit chain once this many entries follow it.",
    )
    checkpoint_interval_seconds: float = Field(
        default=DEFAULT_AUDIT_CHECKPOINT_INTERVAL_SECONDS,
        gt=0,
        description="... or once the last checkpoint is this old and entries follow it (docs/audit.md).",
    )
    batch_linger_seconds: float = Field(
        default=DEFAULT_AUDIT_BATCH_LINGER_SECONDS,
        ge=0,
        le=0.1,
        description="On PostgreSQL, a busy audit writer waits this long for its batch to fill, unless as "
        "many entries as its last batch held are queued already (0: never).",
    )
    relay_timeout_seconds: float = Field(
        default=DEFAULT_AUDIT_RELAY_TIMEOUT_SECONDS,
        gt=0,
        le=300,
        description="With nsl api --workers N: how long a worker waits for the audit writer to answer an "
        "entry before it fails the request closed (503 audit_writer_unavailable).",
    )
    relay_socket: Path | None = Field(
        default=None,
        description="Set by nsl api --workers N on SQLite for its workers, not by hand: the Unix socket of "
        "the one audit writer process they send their entries to (unset: each process writes its own).",
    )
    anchor_interval_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Publish the newest audit checkpoint on the EVM gateway this often (0: never; "
        "needs evm.rpc_url, evm.gateway_address and a funded anchor key: docs/audit.md).",
    )


class OracleSettings(SettingsGroup):
    """The oracle's fetcher in the enclave: where it may go and how much it takes (``NSL_ORACLE_*``).

    Lists are JSON arrays in the environment and credentials (``NSL_ORACLE_DENY_DOMAINS='["*.internal"]'``)
    and TOML arrays in the file.
    """

    flat_prefix = "oracle_"

    allow_http: bool = Field(default=False, description="Allow plain http URLs (default: https only).")
    allow_private_hosts: bool = Field(
        default=False,
        description="Allow loopback, private and other non-global addresses (devnets, tests; neo-go's "
        "AllowPrivateHost). Unspecified, multicast and broadcast addresses stay refused.",
    )
    timeout_seconds: float = Field(
        default=DEFAULT_ORACLE_TIMEOUT_SECONDS, gt=0, description="Connect, read and whole-request timeout."
    )
    max_response_bytes: int = Field(
        default=DEFAULT_ORACLE_MAX_RESPONSE_BYTES, ge=1, description="A larger body is ResponseTooLarge."
    )
    allowed_content_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ORACLE_ALLOWED_CONTENT_TYPES),
        description="Media types a response may have; empty: any.",
    )
    allow_domains: list[str] = Field(
        default_factory=list, description="If not empty, only these hosts (exact or *.suffix)."
    )
    deny_domains: list[str] = Field(
        default_factory=list, description="Never these hosts (exact or *.suffix)."
    )
    max_concurrent_per_host: int = Field(default=DEFAULT_ORACLE_MAX_CONCURRENT_PER_HOST, ge=1)
    max_concurrent_per_account: int = Field(default=DEFAULT_ORACLE_MAX_CONCURRENT_PER_ACCOUNT, ge=1)
    per_host_rate_per_second: float = Field(default=DEFAULT_ORACLE_PER_HOST_RATE_PER_SECOND, gt=0)
    per_host_burst: int = Field(default=DEFAULT_ORACLE_PER_HOST_BURST, ge=1)
    ca_file: Path | None = Field(
        default=None,
        description="PEM certificates the fetcher trusts besides the system store (a devnet's or a "
        "test's own CA); certificates and host names are checked either way.",
    )


class PriceFeedSettings(SettingsGroup):
    """The price feed service (``NSL_PRICEFEED_*``, docs/pricefeed.md): the worker's poll schedule, the
    default feeds, and the defaults a feed created without them takes."""

    flat_prefix = "pricefeed_"

    enabled: bool = Field(default=True, description="The worker polls the enabled feeds.")
    tick_seconds: float = Field(
        default=DEFAULT_PRICEFEED_TICK_SECONDS,
        gt=0,
        description="How often the scheduler looks for feeds whose next poll is due.",
    )
    load_default_feeds: bool = Field(
        default=False,
        description="The worker creates the shipped default feeds (NEO, GAS, BTC, ETH / USD) at start when "
        "they do not exist yet, disabled unless default_feeds_enabled (nsl feeds load-defaults does it too).",
    )
    default_feeds_enabled: bool = Field(
        default=False, description="Default feeds loaded are created enabled (they fetch the real exchanges)."
    )
    default_decimals: int = Field(default=DEFAULT_PRICEFEED_DECIMALS, ge=0, le=18)
    default_min_sources: int = Field(default=DEFAULT_PRICEFEED_MIN_SOURCES, ge=1)
    default_max_quote_age_seconds: int = Field(default=DEFAULT_PRICEFEED_MAX_QUOTE_AGE_SECONDS, ge=1)
    default_outlier_mad_k: str = Field(
        default=DEFAULT_PRICEFEED_OUTLIER_MAD_K, pattern=r"^[0-9]{1,4}(\.[0-9]{1,6})?$"
    )
    default_max_spread_bps: int = Field(default=DEFAULT_PRICEFEED_MAX_SPREAD_BPS, ge=1)
    default_deviation_bps: int = Field(default=DEFAULT_PRICEFEED_DEVIATION_BPS, ge=1)
    default_heartbeat_seconds: int = Field(default=DEFAULT_PRICEFEED_HEARTBEAT_SECONDS, ge=1)
    default_poll_interval_seconds: int = Field(default=DEFAULT_PRICEFEED_POLL_INTERVAL_SECONDS, ge=1)
    default_breaker_bps: int = Field(
        default=DEFAULT_PRICEFEED_BREAKER_BPS, ge=0, description="0: no circuit breaker."
    )

    @model_validator(mode="after")
    def _heartbeat(self) -> Self:
        if self.default_heartbeat_seconds < self.default_poll_interval_seconds:
            raise ValueError(
                "pricefeed.default_heartbeat_seconds (NSL_PRICEFEED_DEFAULT_HEARTBEAT_SECONDS) must not be "
                "below pricefeed.default_poll_interval_seconds (NSL_PRICEFEED_DEFAULT_POLL_INTERVAL_SECONDS)"
            )
        return self
