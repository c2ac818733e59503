"""Settings: one pydantic-settings class, read from ``NSL_*`` env vars and an optional TOML file.

Precedence (highest first): constructor arguments, ``NSL_*`` environment variables, files named
``nsl_<setting>`` in systemd's ``$CREDENTIALS_DIRECTORY`` (``LoadCredential=``), the TOML file named
by ``NSL_CONFIG_FILE`` (or ``<data_dir>/nsl.toml`` when it exists), then the ``DEFAULT_*`` constants below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from neo_service_layer.constants import DATABASE_FILENAME, JWT_KEY_FILENAME

DEFAULT_DATA_DIR = Path.home() / ".nsl"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_RATE_LIMIT_KEY_PER_SECOND = 50.0
DEFAULT_RATE_LIMIT_KEY_BURST = 100
DEFAULT_RATE_LIMIT_ACCOUNT_PER_SECOND = 200.0
DEFAULT_RATE_LIMIT_ACCOUNT_BURST = 400
DEFAULT_JWT_TTL_SECONDS = 15 * 60
DEFAULT_JWT_MAX_TTL_SECONDS = 60 * 60
DEFAULT_API_KEY_ROTATION_OVERLAP_SECONDS = 24 * 3600
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600
DEFAULT_JOB_MAX_ATTEMPTS = 8
DEFAULT_JOB_LEASE_SECONDS = 60.0
DEFAULT_JOB_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_JOB_BACKOFF_MAX_SECONDS = 300.0
DEFAULT_WORKER_CONCURRENCY = 4
DEFAULT_WORKER_POLL_SECONDS = 0.5
DEFAULT_SCHEDULER_LOCK_SECONDS = 30.0
DEFAULT_AUTH_CACHE_SECONDS = 2.0
DEFAULT_AUTH_FAILURE_AUDIT_MAX_KEYS = 100
DEFAULT_READINESS_CACHE_SECONDS = 1.0
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

DEFAULT_ENCLAVE_TIMEOUT_SECONDS = 10.0
DEFAULT_ENCLAVE_MAX_CONNECTIONS = 128
DEFAULT_ENCLAVE_MAX_IN_FLIGHT_BYTES = 128 * 1024 * 1024
DEFAULT_ENCLAVE_MAX_CONNECTION_BYTES = 32 * 1024 * 1024
#: One frame of the largest size (enclave.protocol.MAX_FRAME_BYTES) must fit in every budget.
MIN_ENCLAVE_IN_FLIGHT_BYTES = 8 * 1024 * 1024
DEFAULT_EVM_CONFIRMATIONS = 1
DEFAULT_EVM_POLL_SECONDS = 1.0
DEFAULT_EVM_FULFIL_REPLACE_SECONDS = 30.0
DEFAULT_EVM_FULFIL_MAX_REPLACEMENTS = 5
DEFAULT_EVM_FULFIL_TIMEOUT_SECONDS = 300.0
DEFAULT_EVM_FULFIL_POLL_SECONDS = 0.25
DEFAULT_N3_CONFIRMATIONS = 0
DEFAULT_N3_POLL_SECONDS = 1.0
DEFAULT_N3_FULFIL_VALID_BLOCKS = 20
#: MainNet's MaxValidUntilBlockIncrement (neo-go ``config.ProtocolConfiguration``: 86400 s / 15 s blocks).
MAX_N3_FULFIL_VALID_BLOCKS = 5760
DEFAULT_N3_FULFIL_MAX_RESENDS = 3
DEFAULT_N3_FULFIL_POLL_SECONDS = 0.25
DEFAULT_N3_FULFIL_TIMEOUT_SECONDS = 600.0
DEFAULT_AUDIT_CHECKPOINT_EVERY_ENTRIES = 1000
DEFAULT_AUDIT_CHECKPOINT_INTERVAL_SECONDS = 300.0
DEFAULT_SECRETS_MAX_VERSIONS = 10
MAX_SECRETS_MAX_VERSIONS = 1000

#: Set by systemd for a unit with LoadCredential=: a directory of files named after settings.
CREDENTIALS_DIRECTORY_ENV = "CREDENTIALS_DIRECTORY"

LogFormat = Literal["json", "console"]
EnclaveBackend = Literal["auto", "software", "tdx", "sgx"]


def _default_config_file() -> Path | None:
    explicit = os.environ.get("NSL_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    data_dir = Path(os.environ.get("NSL_DATA_DIR", str(DEFAULT_DATA_DIR)))
    candidate = data_dir / "nsl.toml"
    return candidate if candidate.exists() else None


class Settings(BaseSettings):
    """Every knob of the platform. Secrets are ``SecretStr`` so they print masked."""

    model_config = SettingsConfigDict(env_prefix="NSL_", extra="forbid", validate_default=True)

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: SQLite file under data_dir. Secret: it may carry a "
        "password, so repr() and logs show it masked.",
    )
    redis_url: SecretStr | None = Field(default=None, description="Shared rate limits across replicas.")
    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    log_level: str = "info"
    log_format: LogFormat = "json"

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    rate_limit_key_per_second: float = Field(default=DEFAULT_RATE_LIMIT_KEY_PER_SECOND, gt=0)
    rate_limit_key_burst: int = Field(default=DEFAULT_RATE_LIMIT_KEY_BURST, ge=1)
    rate_limit_account_per_second: float = Field(default=DEFAULT_RATE_LIMIT_ACCOUNT_PER_SECOND, gt=0)
    rate_limit_account_burst: int = Field(default=DEFAULT_RATE_LIMIT_ACCOUNT_BURST, ge=1)
    auth_cache_seconds: float = Field(default=DEFAULT_AUTH_CACHE_SECONDS, ge=0)
    auth_failure_audit_max_keys: int = Field(
        default=DEFAULT_AUTH_FAILURE_AUDIT_MAX_KEYS,
        ge=1,
        description="Distinct (key prefix, client) audit entries of refused credentials per minute and "
        "API process; the rest fold into one 'other' entry.",
    )
    readiness_cache_seconds: float = Field(
        default=DEFAULT_READINESS_CACHE_SECONDS,
        ge=0,
        description="How long /readyz reuses its last probe (database, enclave, chain RPC calls).",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, /metrics needs 'Authorization: Bearer <token>'."
    )
    metrics_host: str = Field(default=DEFAULT_HOST, description="Where the separate /metrics listener binds.")
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port only (nsl api opens it), not on the API's port.",
    )

    jwt_ttl_seconds: int = Field(default=DEFAULT_JWT_TTL_SECONDS, ge=10)
    jwt_max_ttl_seconds: int = Field(default=DEFAULT_JWT_MAX_TTL_SECONDS, ge=10)
    jwt_issuer: str = "neo-service-layer"
    jwt_key_file: Path | None = Field(
        default=None,
        description="Ed25519 PEM signing JWTs; share it between API replicas. Default: in data_dir.",
    )
    api_key_rotation_overlap_seconds: int = Field(default=DEFAULT_API_KEY_ROTATION_OVERLAP_SECONDS, ge=0)
    idempotency_ttl_seconds: int = Field(default=DEFAULT_IDEMPOTENCY_TTL_SECONDS, ge=60)

    job_max_attempts: int = Field(default=DEFAULT_JOB_MAX_ATTEMPTS, ge=1)
    job_lease_seconds: float = Field(default=DEFAULT_JOB_LEASE_SECONDS, gt=0)
    job_backoff_base_seconds: float = Field(default=DEFAULT_JOB_BACKOFF_BASE_SECONDS, ge=0)
    job_backoff_max_seconds: float = Field(default=DEFAULT_JOB_BACKOFF_MAX_SECONDS, ge=0)
    worker_concurrency: int = Field(default=DEFAULT_WORKER_CONCURRENCY, ge=1)
    worker_poll_seconds: float = Field(default=DEFAULT_WORKER_POLL_SECONDS, gt=0)
    scheduler_lock_seconds: float = Field(default=DEFAULT_SCHEDULER_LOCK_SECONDS, gt=0)

    enclave_backend: EnclaveBackend = Field(
        default="auto", description="TEE backend; auto picks sgx/tdx when the device exists, else software."
    )
    enclave_socket: Path | None = Field(
        default=None, description="Unix socket; default <data_dir>/enclave/enclave.sock"
    )
    enclave_state_dir: Path | None = Field(
        default=None, description="Sealed state; default <data_dir>/enclave"
    )
    enclave_passphrase: SecretStr | None = Field(
        default=None, description="Derives the software sealing key (scrypt)."
    )
    enclave_key_file: Path | None = Field(
        default=None, description="32-byte sealing key file (mode 0600); default <state_dir>/sealing.key"
    )
    enclave_timeout_seconds: float = Field(default=DEFAULT_ENCLAVE_TIMEOUT_SECONDS, gt=0)
    enclave_socket_group: str | None = Field(
        default=None,
        description="Group (name or gid) allowed to connect: socket 0660 and its directory 0710 in that "
        "group, for an enclave that runs as its own user (docs/deployment.md). Default: owner only.",
    )
    enclave_max_connections: int = Field(
        default=DEFAULT_ENCLAVE_MAX_CONNECTIONS, ge=1, description="Connections beyond it get 'busy'."
    )
    enclave_max_in_flight_bytes: int = Field(
        default=DEFAULT_ENCLAVE_MAX_IN_FLIGHT_BYTES,
        ge=MIN_ENCLAVE_IN_FLIGHT_BYTES,
        description="Request bytes the enclave holds at once over all connections; beyond: 'busy'.",
    )
    enclave_max_connection_bytes: int = Field(
        default=DEFAULT_ENCLAVE_MAX_CONNECTION_BYTES,
        ge=MIN_ENCLAVE_IN_FLIGHT_BYTES,
        description="Request bytes the enclave holds at once for one connection; beyond: 'busy'.",
    )

    audit_checkpoint_every_entries: int = Field(
        default=DEFAULT_AUDIT_CHECKPOINT_EVERY_ENTRIES,
        ge=1,
        description="The enclave signs a checkpoint of the audit chain once this many entries follow it.",
    )
    audit_checkpoint_interval_seconds: float = Field(
        default=DEFAULT_AUDIT_CHECKPOINT_INTERVAL_SECONDS,
        gt=0,
        description="... or once the last checkpoint is this old and entries follow it (docs/audit.md).",
    )
    audit_anchor_interval_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Publish the newest audit checkpoint on the EVM gateway this often (0: never; "
        "needs evm_rpc_url, evm_gateway_address and a funded anchor key: docs/audit.md).",
    )

    secrets_max_versions: int = Field(
        default=DEFAULT_SECRETS_MAX_VERSIONS,
        ge=1,
        le=MAX_SECRETS_MAX_VERSIONS,
        description="Versions a secret keeps unless its metadata says otherwise; older ones are destroyed.",
    )

    evm_rpc_url: str | None = Field(
        default=None, description="EVM (Neo X) JSON-RPC; enables the chain watcher."
    )
    evm_gateway_address: str | None = Field(default=None, description="The NSLGateway contract to watch.")
    evm_confirmations: int = Field(
        default=DEFAULT_EVM_CONFIRMATIONS, ge=0, description="Blocks on top of a request before it is served."
    )
    evm_start_block: int = Field(default=0, ge=0, description="First block to scan when no cursor is stored.")
    evm_poll_seconds: float = Field(default=DEFAULT_EVM_POLL_SECONDS, gt=0)
    evm_fulfil_replace_seconds: float = Field(
        default=DEFAULT_EVM_FULFIL_REPLACE_SECONDS,
        gt=0,
        description="A fulfilment not mined this long is re-sent with the same nonce and fees +12.5%.",
    )
    evm_fulfil_max_replacements: int = Field(default=DEFAULT_EVM_FULFIL_MAX_REPLACEMENTS, ge=0)
    evm_fulfil_timeout_seconds: float = Field(
        default=DEFAULT_EVM_FULFIL_TIMEOUT_SECONDS,
        gt=0,
        description="How long one job attempt waits for a receipt before it is retried later.",
    )
    evm_fulfil_poll_seconds: float = Field(default=DEFAULT_EVM_FULFIL_POLL_SECONDS, gt=0)

    n3_rpc_url: str | None = Field(default=None, description="Neo N3 JSON-RPC; enables the N3 chain watcher.")
    n3_gateway_hash: str | None = Field(
        default=None, description="The N3 gateway contract's script hash (0x…, big-endian) to watch."
    )
    n3_confirmations: int = Field(
        default=DEFAULT_N3_CONFIRMATIONS,
        ge=0,
        description="Blocks on top of a request before it is served (dBFT blocks are final: 0 is safe).",
    )
    n3_start_block: int = Field(default=0, ge=0, description="First N3 block to scan with no cursor.")
    n3_poll_seconds: float = Field(default=DEFAULT_N3_POLL_SECONDS, gt=0)
    n3_fulfil_valid_blocks: int = Field(
        default=DEFAULT_N3_FULFIL_VALID_BLOCKS,
        ge=1,
        le=MAX_N3_FULFIL_VALID_BLOCKS,
        description="A fulfilment transaction's valid_until_block is the block count + this "
        "(20 = ~20 s on a 1 s devnet, 5 min on MainNet's 15 s blocks); an expired one is re-sent.",
    )
    n3_fulfil_max_resends: int = Field(
        default=DEFAULT_N3_FULFIL_MAX_RESENDS,
        ge=0,
        description="Rebuilds of a fulfilment transaction that expired unincluded, per job attempt.",
    )
    n3_fulfil_poll_seconds: float = Field(
        default=DEFAULT_N3_FULFIL_POLL_SECONDS,
        gt=0,
        description="How often a fulfilment attempt polls for its transaction's application log.",
    )
    n3_fulfil_timeout_seconds: float = Field(
        default=DEFAULT_N3_FULFIL_TIMEOUT_SECONDS,
        gt=0,
        description="How long one job attempt waits for inclusion before it is retried later.",
    )

    bootstrap_admin_key: SecretStr | None = Field(
        default=None, description="Use this admin API key on first start instead of generating one."
    )
    serve_enclave: bool = Field(
        default=True,
        description="nsl serve starts the enclave; false when it runs as its own user (docs/deployment.md).",
    )

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.enclave_max_connection_bytes > self.enclave_max_in_flight_bytes:
            raise ValueError("enclave_max_connection_bytes must not exceed enclave_max_in_flight_bytes")
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("metrics_port must differ from port (or be unset to serve /metrics there)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        # systemd credentials (LoadCredential=nsl_enclave_passphrase:…): a secret read from a file
        # that only this service can read, never from an environment /proc shows to its user.
        credentials = os.environ.get(CREDENTIALS_DIRECTORY_ENV)
        if credentials:
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=credentials))
        config_file = _default_config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file under ``data_dir``."""
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{self.data_dir / DATABASE_FILENAME}"

    @property
    def effective_jwt_key_file(self) -> Path:
        return self.jwt_key_file or self.data_dir / JWT_KEY_FILENAME

    @property
    def effective_enclave_state_dir(self) -> Path:
        return self.enclave_state_dir or self.data_dir / "enclave"

    @property
    def effective_enclave_socket(self) -> Path:
        return self.enclave_socket or self.effective_enclave_state_dir / "enclave.sock"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def masked(self) -> dict[str, Any]:
        """Effective settings as plain data with every secret (and URL password) masked."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                shown[name] = "**********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                shown[name] = str(value)
            else:
                shown[name] = value
        shown["database_url"] = mask_url_password(self.effective_database_url)
        return shown


def mask_url_password(url: str) -> str:
    """Replace the password of ``scheme://user:password@host`` with asterisks."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}://{user}{':**********' if colon else ''}@{host}"
