"""Settings: one pydantic-settings class, read from ``NSL_*`` env vars and an optional TOML file.

Settings with a common subject are grouped (``settings.evm.rpc_url``, ``settings.jobs.max_attempts``:
``config/groups.py``); the others are attributes of their own (``settings.port``). Outside Python every
setting keeps its flat name (``NSL_EVM_RPC_URL``; ``config/flat.py``). The constructor takes the groups
nested: ``Settings(evm={"rpc_url": url})`` or ``Settings(evm=EvmSettings(rpc_url=url))`` (a whole group:
no other source then sets any of its fields).

Precedence (highest first), per setting: constructor arguments, ``NSL_*`` environment variables, files
named ``nsl_<flat name>`` in systemd's ``$CREDENTIALS_DIRECTORY`` (``LoadCredential=``), the TOML file
named by ``NSL_CONFIG_FILE`` (or ``<data_dir>/nsl.toml`` when it exists), then the ``DEFAULT_*``
constants. The TOML file takes flat names at its top level (``evm_rpc_url = …``, as ``nsl devnet up``
writes them) and group tables (``[evm]`` then ``rpc_url = …``); docs/configuration.md lists them all.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from neo_service_layer.config.flat import Nested, explain, flat_settings_class
from neo_service_layer.config.groups import (
    AuditSettings,
    EnclaveSettings,
    EvmSettings,
    JobSettings,
    N3Settings,
    OracleSettings,
    PriceFeedSettings,
    RateLimitSettings,
)
from neo_service_layer.constants import DATABASE_FILENAME, JWT_KEY_FILENAME
from neo_service_layer.errors import ConfigurationError

DEFAULT_DATA_DIR = Path.home() / ".nsl"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_JWT_TTL_SECONDS = 15 * 60
DEFAULT_JWT_MAX_TTL_SECONDS = 60 * 60
DEFAULT_API_KEY_ROTATION_OVERLAP_SECONDS = 24 * 3600
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600
DEFAULT_AUTH_CACHE_SECONDS = 2.0
DEFAULT_AUTH_FAILURE_AUDIT_MAX_KEYS = 100
DEFAULT_READINESS_CACHE_SECONDS = 1.0
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

DEFAULT_SECRETS_MAX_VERSIONS = 10
MAX_SECRETS_MAX_VERSIONS = 1000

ENV_PREFIX = "NSL_"
#: Set by systemd for a unit with LoadCredential=: a directory of files named after settings.
CREDENTIALS_DIRECTORY_ENV = "CREDENTIALS_DIRECTORY"

LogFormat = Literal["auto", "json", "console"]


def _default_config_file() -> Path | None:
    explicit = os.environ.get("NSL_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    data_dir = Path(os.environ.get("NSL_DATA_DIR", str(DEFAULT_DATA_DIR)))
    candidate = data_dir / "nsl.toml"
    return candidate if candidate.exists() else None


class Settings(BaseSettings):
    """Every knob of the platform. Secrets are ``SecretStr`` so they print masked."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: SQLite file under data_dir. Secret: it may carry a "
        "password, so repr() and logs show it masked.",
    )
    redis_url: SecretStr | None = Field(default=None, description="Shared rate limits across replicas.")
    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    api_workers: int | None = Field(
        default=None,
        ge=1,
        description="API processes serving port (nsl api --workers). Unset: 1 for nsl api; nsl serve picks "
        "(docs/performance.md). More than 1 needs redis_url: rate limits must be shared.",
    )
    log_level: str = "info"
    # "auto": human-readable on a terminal, JSON otherwise (a service manager, a pipe, a file).
    log_format: LogFormat = "auto"

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
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

    secrets_max_versions: int = Field(
        default=DEFAULT_SECRETS_MAX_VERSIONS,
        ge=1,
        le=MAX_SECRETS_MAX_VERSIONS,
        description="Versions a secret keeps unless its metadata says otherwise; older ones are destroyed.",
    )

    bootstrap_admin_key: SecretStr | None = Field(
        default=None, description="Use this admin API key on first start instead of generating one."
    )
    serve_enclave: bool = Field(
        default=True,
        description="nsl serve starts the enclave; false when it runs as its own user (docs/deployment.md).",
    )

    # The groups (config/groups.py).
    evm: EvmSettings = Field(default_factory=EvmSettings)
    n3: N3Settings = Field(default_factory=N3Settings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    enclave: EnclaveSettings = Field(default_factory=EnclaveSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    oracle: OracleSettings = Field(default_factory=OracleSettings)
    pricefeed: PriceFeedSettings = Field(default_factory=PriceFeedSettings)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError(
                "metrics_port (NSL_METRICS_PORT) must differ from port (NSL_PORT), or be unset to serve "
                "/metrics there"
            )
        if self.api_workers is not None and self.api_workers > 1 and self.redis_url is None:
            # In-process token buckets would let each of N processes grant the whole burst and rate:
            # the limits would be N times looser than configured.
            raise ValueError(
                f"api_workers (NSL_API_WORKERS, nsl api --workers) is {self.api_workers}: more than one API "
                "process needs redis_url (NSL_REDIS_URL) so that they share the rate limits"
            )
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
        # Every source but the constructor's reads flat names (config/flat.py): not the stock env source.
        flat = flat_settings_class(settings_cls)
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            Nested(settings_cls, EnvSettingsSource(flat), "the environment"),
        ]
        # systemd credentials (LoadCredential=nsl_enclave_passphrase:…): a secret read from a file
        # that only this service can read, never from an environment /proc shows to its user.
        credentials = os.environ.get(CREDENTIALS_DIRECTORY_ENV)
        if credentials:
            sources.append(
                Nested(settings_cls, SecretsSettingsSource(flat, secrets_dir=credentials), credentials)
            )
        config_file = _default_config_file()
        if config_file is not None:
            sources.append(
                Nested(settings_cls, TomlConfigSettingsSource(flat, toml_file=config_file), str(config_file))
            )
        return tuple(sources)

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """The settings of this process (environment, credentials, TOML file), or a readable error.

        ``overrides`` (a command's options, e.g. ``api_workers``) take precedence over every source and
        are validated with the rest.

        Raises:
            ConfigurationError: a setting is invalid (each named with its ``NSL_`` variable), the TOML
                file does not parse, or it sets a setting twice.
        """
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(explain(exc, cls))) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"the config file is not valid TOML: {exc}") from exc

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
        return self.enclave.state_dir or self.data_dir / "enclave"

    @property
    def effective_enclave_socket(self) -> Path:
        return self.enclave.socket or self.effective_enclave_state_dir / "enclave.sock"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def masked(self) -> dict[str, Any]:
        """Effective settings as plain data (groups as nested dicts), every secret and URL password masked."""
        shown = _plain(self.model_dump())
        shown["database_url"] = mask_url_password(self.effective_database_url)
        return shown


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """``model_dump()`` output as JSON-ready data: secrets masked, paths as strings, groups recursed."""
    shown: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, SecretStr):
            shown[name] = "**********" if value.get_secret_value() else ""
        elif isinstance(value, Path):
            shown[name] = str(value)
        elif isinstance(value, Mapping):
            shown[name] = _plain(value)
        else:
            shown[name] = value
    return shown


def mask_url_password(url: str) -> str:
    """Replace the password of ``scheme://user:password@host`` with asterisks."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}://{user}{':**********' if colon else ''}@{host}"
