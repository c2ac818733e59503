"""Flat names: how the environment, systemd credentials and the TOML file name the grouped settings.

``Settings`` holds its settings in groups (``settings.evm.rpc_url``, ``config/groups.py``); outside Python
every setting keeps its flat name, the one it had before the groups: ``NSL_EVM_RPC_URL``, a credential
file ``nsl_evm_rpc_url``, ``evm_rpc_url = …`` at the top of the TOML file (where an ``[evm]`` table with
``rpc_url = …`` works too).

pydantic-settings' own nesting (``env_nested_delimiter``) cannot map these: with ``"_"`` as delimiter
``NSL_RATE_LIMIT_KEY_BURST`` splits into ``rate`` / ``limit_key_burst`` (group and field names have
underscores of their own), and the jobs group holds ``job_*``, ``worker_*`` and ``scheduler_*`` names.
So each source of ``Settings`` other than its constructor arguments runs, unchanged, on a *flat twin*
of the class — one field per flat name, with the real field's annotation
(:func:`flat_settings_class`) — and :class:`Nested` moves the values of a group's fields under the
group's name (:func:`nest`). pydantic-settings thus still does the reading (case-insensitive names, the
``NSL_`` prefix, the checks on credential files), and precedence between the sources is per setting, as
before: ``NSL_EVM_RPC_URL`` beats ``[evm] rpc_url`` of the file while ``NSL_EVM_CONFIRMATIONS`` unset
leaves the file's ``confirmations``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, NamedTuple, cast, get_args

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from neo_service_layer.config.groups import SettingsGroup
from neo_service_layer.errors import ConfigurationError


class FlatSetting(NamedTuple):
    """One setting by its flat name: where it is in ``Settings`` and its field."""

    path: tuple[str, ...]  # ("port",) or ("evm", "rpc_url")
    field: FieldInfo


def _group(field: FieldInfo) -> type[SettingsGroup] | None:
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, SettingsGroup) else None


@cache
def flat_settings(settings_cls: type[BaseModel]) -> Mapping[str, FlatSetting]:
    """Every setting of ``settings_cls`` by its flat name (a top-level field is its own flat name)."""
    names: dict[str, FlatSetting] = {}
    for name, field in settings_cls.model_fields.items():
        group = _group(field)
        members = (
            [(name, FlatSetting((name,), field))]
            if group is None
            else [
                (group.flat_name(sub), FlatSetting((name, sub), info))
                for sub, info in group.model_fields.items()
            ]
        )
        for flat, setting in members:
            if flat in names:
                raise TypeError(f"{'.'.join(setting.path)} and {'.'.join(names[flat].path)} are both {flat}")
            names[flat] = setting
    return names


@cache
def flat_settings_class(settings_cls: type[BaseSettings]) -> type[BaseSettings]:
    """The flat twin of ``settings_cls`` for its sources to read: one field per flat name, same config.

    Never instantiated: the sources only read its fields' names and annotations and its config.
    """
    annotations = {name: setting.field.annotation for name, setting in flat_settings(settings_cls).items()}
    namespace = {
        "__annotations__": annotations,
        "__module__": __name__,
        "model_config": settings_cls.model_config,
    }
    return cast(type[BaseSettings], type(f"Flat{settings_cls.__name__}", (BaseSettings,), namespace))


def nest(values: Mapping[str, Any], names: Mapping[str, FlatSetting], origin: str) -> dict[str, Any]:
    """``values`` by flat name, nested by group: ``{"evm_rpc_url": u}`` becomes ``{"evm": {"rpc_url": u}}``.

    Top-level settings and unknown keys stay as they are (validation refuses an unknown key:
    ``extra="forbid"``). A group's table already in ``values`` (``[evm]`` of the TOML file) takes its flat
    keys too; the same setting both ways is refused, naming ``origin``.
    """
    nested: dict[str, Any] = {}
    grouped: dict[str, dict[str, tuple[str, Any]]] = {}
    for key, value in values.items():
        setting = names.get(key)
        if setting is None or len(setting.path) == 1:
            nested[key] = value
        else:
            group, field = setting.path
            grouped.setdefault(group, {})[field] = (key, value)
    for group, fields in grouped.items():
        table = nested.get(group, {})
        if not isinstance(table, Mapping):
            flat = ", ".join(sorted(key for key, _ in fields.values()))
            raise ConfigurationError(f"{origin}: {group} is not a table, yet {flat} set its settings")
        twice = sorted(f"{fields[field][0]} and [{group}] {field}" for field in fields.keys() & table.keys())
        if twice:
            raise ConfigurationError(f"{origin} sets a setting twice: {', '.join(twice)}")
        nested[group] = {**table, **{field: value for field, (_, value) in fields.items()}}
    return nested


class Nested(PydanticBaseSettingsSource):
    """A source of the flat twin (:func:`flat_settings_class`) whose values it nests for ``settings_cls``."""

    def __init__(
        self, settings_cls: type[BaseSettings], source: PydanticBaseSettingsSource, origin: str
    ) -> None:
        super().__init__(settings_cls)
        self._source = source
        self._origin = origin

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused (abstract in the base): :meth:`__call__` takes the whole flat source at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return nest(self._source(), flat_settings(self.settings_cls), self._origin)

    def __repr__(self) -> str:
        return f"Nested({self._source!r})"


def _is_secret(field: FieldInfo) -> bool:
    return field.annotation is SecretStr or SecretStr in get_args(field.annotation)


def explain(exc: ValidationError, settings_cls: type[BaseSettings]) -> list[str]:
    """The errors of ``exc``, one a line, each setting named by its path and its environment variable.

    ``evm.confirmations (NSL_EVM_CONFIRMATIONS): Input should be … (got 'abc')``; the value given is
    shown unless the setting is a secret (or the error is about a whole group, whose input holds them).
    """
    prefix = settings_cls.model_config.get("env_prefix", "")
    by_path = {setting.path: (flat, setting.field) for flat, setting in flat_settings(settings_cls).items()}
    lines = []
    for error in exc.errors(include_url=False):
        path = tuple(str(part) for part in error["loc"])
        where = ".".join(path)
        known = by_path.get(path)
        if known is None:
            lines.append(f"{where}: {error['msg']}")
            continue
        flat, field = known
        given = error["input"]
        shown = "" if _is_secret(field) or not isinstance(given, str | int | float) else f" (got {given!r})"
        lines.append(f"{where} ({(prefix + flat).upper()}): {error['msg']}{shown}")
    return lines
