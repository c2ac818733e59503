"""Error codes across the platform: well-formed, and one error per code.

Clients switch on ``code``, so a code must name one error. Two classes may share a code only as parent
and child with the same status: the child is the same error to a client and a narrower type to Python
(``N3RpcError`` is ``N3RpcUnavailable`` carrying the node's JSON-RPC error code). Two unrelated classes
with one code are a bug, whatever their statuses: a client could not tell them apart, and their titles
and statuses drift apart. The enclave's protocol errors (``enclave.protocol.EnclaveError``) carry the
wire protocol's codes, a namespace of their own (docs/enclave.md §1) that the host's enclave client
converts at the boundary; where a protocol code and an API code have one name, the conversion must land
on exactly that API error.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence

import pytest

import neo_service_layer
from neo_service_layer.enclave.client import error_from_response
from neo_service_layer.enclave.protocol import EnclaveError, ErrorCode
from neo_service_layer.errors import NSLError

CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# Modules that run something when imported: the enclave's ``python -m`` entry and Alembic's environment.
NOT_IMPORTED = ("neo_service_layer.enclave.__main__", "neo_service_layer.db.migrations.env")


def _import_every_module() -> None:
    for module in pkgutil.walk_packages(neo_service_layer.__path__, f"{neo_service_layer.__name__}."):
        if module.name not in NOT_IMPORTED:
            importlib.import_module(module.name)


def _subclasses(cls: type[NSLError]) -> Iterator[type[NSLError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _errors() -> list[type[NSLError]]:
    """Every NSLError class the package defines (the tests' own are left out)."""
    _import_every_module()
    found: set[type[NSLError]] = {NSLError, *_subclasses(NSLError)}
    return sorted(
        (cls for cls in found if cls.__module__.startswith(f"{neo_service_layer.__name__}.")),
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


def _name(cls: type[NSLError]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _shared_codes(classes: Sequence[type[NSLError]]) -> list[str]:
    """The codes that more than one class has without being parent and child of the same status."""
    by_code: defaultdict[str, list[type[NSLError]]] = defaultdict(list)
    for cls in classes:
        by_code[cls.code].append(cls)
    problems = []
    for code, owners in sorted(by_code.items()):
        root = min(owners, key=lambda cls: len(cls.__mro__))
        if any(not issubclass(cls, root) or cls.status != root.status for cls in owners):
            problems.append(f"{code}: {', '.join(map(_name, owners))}")
    return problems


ERRORS = _errors()
API_ERRORS = [cls for cls in ERRORS if not issubclass(cls, EnclaveError)]
PROTOCOL_ERRORS = [cls for cls in ERRORS if issubclass(cls, EnclaveError)]


def test_every_module_was_found() -> None:
    modules = {cls.__module__ for cls in ERRORS}
    for module in (
        "neo_service_layer.errors",
        "neo_service_layer.services.keys.errors",
        "neo_service_layer.services.secrets.errors",
        "neo_service_layer.services.randomness.errors",
        "neo_service_layer.services.audit.errors",
        "neo_service_layer.chains.evm.errors",
        "neo_service_layer.enclave.protocol",
    ):
        assert module in modules
    assert len(API_ERRORS) > 90


@pytest.mark.parametrize("cls", ERRORS, ids=_name)
def test_code_is_lowercase_snake_case(cls: type[NSLError]) -> None:
    assert CODE.fullmatch(cls.code), cls.code
    assert 400 <= cls.status <= 599
    assert cls.title


def test_api_codes_name_one_error_each() -> None:
    assert _shared_codes(API_ERRORS) == []


def test_protocol_codes_name_one_error_each_and_come_from_the_protocol() -> None:
    assert _shared_codes(PROTOCOL_ERRORS) == []
    assert {cls.code for cls in PROTOCOL_ERRORS} == set(ErrorCode)


@pytest.mark.parametrize(
    "code", sorted({cls.code for cls in PROTOCOL_ERRORS} & {cls.code for cls in API_ERRORS})
)
def test_a_protocol_code_named_like_an_api_code_becomes_that_error(code: str) -> None:
    (api_error,) = {cls for cls in API_ERRORS if cls.code == code}
    assert type(error_from_response(code, "detail")) is api_error


@pytest.mark.parametrize(
    ("classes", "shared"),
    [
        pytest.param(
            [API_ERRORS[0], type("Twin", (NSLError,), {"code": API_ERRORS[0].code})],
            True,
            id="unrelated-classes",
        ),
        pytest.param(
            [NSLError, type("Child", (NSLError,), {})],
            False,
            id="a-child-inheriting-the-code",
        ),
        pytest.param(
            [NSLError, type("Child", (NSLError,), {"status": 503})],
            True,
            id="a-child-with-another-status",
        ),
    ],
)
def test_the_check_catches_a_shared_code(classes: Sequence[type[NSLError]], shared: bool) -> None:
    assert bool(_shared_codes(classes)) is shared
