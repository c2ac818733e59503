"""Resource ids (``neo_service_layer/ids.py``): one prefix list, one format, refused alike by the API and
the enclave.

The ULID layout follows https://github.com/ulid/spec (48-bit millisecond time, 80 random bits, Crockford
base32); the accepted set (2-8 lowercase letters, ``_``, 1-40 letters and digits) is the one the API and
the enclave schemas have always checked.
"""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

import neo_service_layer
from neo_service_layer.enclave.opdefs.keys import GenerateArgs
from neo_service_layer.enclave.schemas import AmkCreateArgs
from neo_service_layer.ids import (
    ID_MAX_LENGTH,
    ID_PATTERN,
    AccountId,
    IdPrefix,
    ResourceId,
    id_floor,
    new_id,
)
from tests.api.helpers import assert_problem
from tests.conftest import Tenant

PACKAGE = Path(neo_service_layer.__file__).resolve().parent
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")  # Crockford base32: no I, L, O, U

# (id, accepted): the edges of ID_PATTERN and ID_MAX_LENGTH.
RESOURCE_IDS = [
    pytest.param("key_01J0000000000000000000000A", True, id="made-by-new_id"),
    pytest.param("ab_1", True, id="shortest"),
    pytest.param("abcdefgh_" + "z" * 40, True, id="longest"),
    pytest.param("key_lowercase9", True, id="any-letters-and-digits"),
    pytest.param("k_01J", False, id="one-letter-prefix"),
    pytest.param("abcdefghi_01J", False, id="nine-letter-prefix"),
    pytest.param("Key_01J", False, id="uppercase-prefix"),
    pytest.param("key_", False, id="nothing-after-prefix"),
    pytest.param("key01J", False, id="no-underscore"),
    pytest.param("key-01J", False, id="dash"),
    pytest.param("key_01J:1", False, id="colon-of-a-key-context"),
    pytest.param("key_01_J", False, id="second-underscore"),
    pytest.param("abcdefgh_" + "z" * 41, False, id="one-too-long"),
    pytest.param("key_01J\u00e9", False, id="non-ascii"),
    pytest.param("key_01J ", False, id="trailing-space"),
]

# (account id, accepted) for the enclave: tenant ids and the platform's own scopes, never a colon.
ACCOUNT_IDS = [
    pytest.param("acc_01J0000000000000000000000A", True, id="tenant"),
    pytest.param("nsl-audit", True, id="audit-checkpoint-scope"),
    pytest.param("a", True, id="one-character"),
    pytest.param("a" * 64, True, id="longest"),
    pytest.param("a" * 65, False, id="one-too-long"),
    pytest.param("", False, id="empty"),
    pytest.param("a:b", False, id="colon-of-an-amk-context"),
    pytest.param("acc 1", False, id="space"),
]


def _new_id_prefixes() -> list[str]:
    """The ``IdPrefix`` member named by every ``new_id(...)`` call in the package."""
    named = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "new_id":
                (argument,) = node.args
                assert isinstance(argument, ast.Attribute), f"{path}: new_id({ast.unparse(argument)})"
                assert ast.unparse(argument.value) == "IdPrefix", f"{path}: new_id({ast.unparse(argument)})"
                named.append(argument.attr)
    return named


def test_every_id_the_package_makes_has_its_prefix_in_id_prefix_and_every_prefix_is_made() -> None:
    named = _new_id_prefixes()
    assert set(named) == set(IdPrefix.__members__)


@pytest.mark.parametrize("prefix", list(IdPrefix.__members__.values()), ids=list(IdPrefix.__members__))
def test_new_id_is_the_prefix_and_a_ulid_and_matches_the_accepted_pattern(prefix: IdPrefix) -> None:
    made = new_id(prefix)
    head, _, ulid = made.partition("_")
    assert head == prefix.value
    assert ULID.fullmatch(ulid)
    assert re.fullmatch(ID_PATTERN, made)
    assert len(made) <= ID_MAX_LENGTH
    assert TypeAdapter(ResourceId).validate_python(made) == made


def test_new_ids_sort_by_the_time_they_were_made() -> None:
    made = []
    for _ in range(5):
        made.append(new_id(IdPrefix.JOB))
        time.sleep(0.002)  # the timestamp has millisecond resolution; within one the order is random
    assert sorted(made) == made
    assert _millis(made[0]) < _millis(made[-1]) <= int(time.time() * 1000)


def test_id_floor_splits_ids_by_the_time_they_were_made() -> None:
    # What the run metrics' frontier relies on (services/functions/metrics.py).
    made = new_id(IdPrefix.FUNCTION_RUN)
    at = _millis(made)
    assert id_floor(IdPrefix.FUNCTION_RUN, at) <= made < id_floor(IdPrefix.FUNCTION_RUN, at + 1)
    assert _millis(id_floor(IdPrefix.FUNCTION_RUN, at)) == at
    assert id_floor(IdPrefix.FUNCTION_RUN, at).endswith("0" * 16)
    assert re.match(ID_PATTERN, id_floor(IdPrefix.JOB, at))


def _millis(made: str) -> int:
    """The ULID's 48-bit millisecond timestamp (its first 10 characters)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = 0
    for char in made.partition("_")[2][:10]:
        value = value * 32 + alphabet.index(char)
    return value


@pytest.mark.parametrize(("value", "accepted"), RESOURCE_IDS)
def test_the_enclave_schemas_take_exactly_the_accepted_ids(value: str, accepted: bool) -> None:
    def generate() -> GenerateArgs:  # as the op's arguments arrive on the socket: JSON
        amk = {"version": 1, "sealed": "eA=="}
        args = {"account_id": "acc_1", "key_id": value, "version": 1, "key_type": "ed25519", "amk": amk}
        return GenerateArgs.model_validate_json(json.dumps(args))

    if accepted:
        assert generate().key_id == value
    else:
        with pytest.raises(ValidationError) as caught:
            generate()
        assert [error["loc"] for error in caught.value.errors()] == [("key_id",)]


@pytest.mark.parametrize(("value", "accepted"), RESOURCE_IDS)
async def test_the_api_refuses_a_malformed_id_with_a_422_before_looking_it_up(
    client: httpx.AsyncClient, tenant: Tenant, value: str, accepted: bool
) -> None:
    response = await client.get(f"/v1/keys/{value}", headers=tenant.headers)
    if accepted:
        assert_problem(response, 404, "key_not_found")
    else:
        body = assert_problem(response, 422, "validation_failed")
        assert [error["loc"] for error in body["errors"]] == [["path", "key_id"]]


@pytest.mark.parametrize(("value", "accepted"), ACCOUNT_IDS)
def test_the_enclave_takes_tenant_and_platform_account_ids_without_a_colon(
    value: str, accepted: bool
) -> None:
    if accepted:
        assert TypeAdapter(AccountId).validate_python(value) == value
        assert AmkCreateArgs(account_id=value, version=1).account_id == value
    else:
        with pytest.raises(ValidationError):
            AmkCreateArgs(account_id=value, version=1)
