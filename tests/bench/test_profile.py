"""The py-spy raw-stack parser of ``bench/profile.py``: frames, packages and shares."""

from __future__ import annotations

import pytest

from bench.profile import Frame, package_of, parse, parse_frame, parse_line, short_path

SITE = "/work/main/.venv/lib/python3.13/site-packages"
STDLIB = "/usr/lib/python3.13"


@pytest.mark.parametrize(
    ("text", "frame"),
    [
        pytest.param(
            f"execute ({SITE}/sqlalchemy/orm/session.py:2351)",
            Frame("execute", f"{SITE}/sqlalchemy/orm/session.py", 2351),
            id="site-packages",
        ),
        pytest.param("<module> (<string>:8)", Frame("<module>", "<string>", 8), id="no-file"),
        pytest.param(
            "__call__ (/x/a (b)/m.py:3)", Frame("__call__", "/x/a (b)/m.py", 3), id="parentheses-in-path"
        ),
        pytest.param("idle", Frame("idle", "", 0), id="no-location"),
        pytest.param("f (/x/m.py)", Frame("f", "/x/m.py", 0), id="no-line"),
    ],
)
def test_parse_frame(text: str, frame: Frame) -> None:
    assert parse_frame(text) == frame


@pytest.mark.parametrize(
    ("line", "functions", "count"),
    [
        pytest.param("a (/m.py:1);b (/m.py:2) 7\n", ["a", "b"], 7, id="two-frames"),
        pytest.param("a (/m.py:1) 1", ["a"], 1, id="one-frame"),
        pytest.param("a (/m b.py:1) 3", ["a"], 3, id="space-in-path"),
    ],
)
def test_parse_line(line: str, functions: list[str], count: int) -> None:
    parsed = parse_line(line)
    assert parsed is not None
    assert [frame.function for frame in parsed[0]] == functions
    assert parsed[1] == count


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("", id="blank"),
        pytest.param("a (/m.py:1)", id="no-count"),
        pytest.param("a (/m.py:1) x", id="count-not-a-number"),
    ],
)
def test_parse_line_refuses_malformed(line: str) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(
    ("file", "package"),
    [
        pytest.param("sqlalchemy/orm/session.py", "sqlalchemy", id="sqlalchemy"),
        pytest.param("fastapi/routing.py", "fastapi/starlette", id="fastapi"),
        pytest.param("starlette/routing.py", "fastapi/starlette", id="starlette"),
        pytest.param("aiosqlite/core.py", "aiosqlite", id="aiosqlite"),
        pytest.param("asyncpg/connection.py", "asyncpg", id="asyncpg"),
        pytest.param("uvicorn/protocols/http/httptools_impl.py", "uvicorn", id="uvicorn"),
        pytest.param("typing_extensions.py", "typing_extensions", id="top-level-module"),
        pytest.param("neo_service_layer/api/context.py", "neo_service_layer.api", id="own-subpackage"),
        pytest.param("neo_service_layer/errors.py", "neo_service_layer.errors", id="own-module"),
        pytest.param("asyncio/events.py", "asyncio", id="asyncio"),
        pytest.param("weakref.py", "stdlib", id="stdlib"),
        pytest.param("<frozen runpy>", "other", id="frozen"),
        pytest.param("<string>", "other", id="string"),
        pytest.param("/tmp/script.py", "other", id="script"),
        pytest.param(f"{SITE}/sqlalchemy/orm/session.py", "sqlalchemy", id="absolute-site-packages"),
        pytest.param(f"{STDLIB}/asyncio/events.py", "asyncio", id="absolute-stdlib"),
    ],
)
def test_package_of(file: str, package: str) -> None:
    assert package_of(file) == package


@pytest.mark.parametrize(
    ("file", "short"),
    [
        pytest.param("sqlalchemy/orm/session.py", "sqlalchemy/orm/session.py", id="as-py-spy-names-it"),
        pytest.param(f"{SITE}/sqlalchemy/orm/session.py", "sqlalchemy/orm/session.py", id="site-packages"),
        pytest.param(f"{STDLIB}/asyncio/events.py", "asyncio/events.py", id="stdlib"),
        pytest.param("<string>", "<string>", id="unknown"),
    ],
)
def test_short_path(file: str, short: str) -> None:
    assert short_path(file) == short


def test_shares_count_a_function_once_per_sample() -> None:
    run = "run (asyncio/events.py:88)"
    get = "get (sqlalchemy/orm/session.py:10)"
    route = "route (neo_service_layer/api/routes/account.py:5)"
    profile = parse(
        [
            f"{run};{route};{get};{get} 3\n",  # recursion: get counts once, inclusive
            f"{run};{route} 1\n",
            "garbage\n",
        ]
    )
    assert profile.samples == 4
    get_name = "get (sqlalchemy/orm/session.py)"
    route_name = "route (neo_service_layer/api/routes/account.py)"
    assert profile.share(profile.inclusive[get_name]) == 0.75
    assert profile.share(profile.self_[get_name]) == 0.75
    assert profile.share(profile.inclusive[route_name]) == 1.0
    assert profile.share(profile.self_[route_name]) == 0.25
    assert profile.package_inclusive["asyncio"] == 4
    assert profile.package_self == {"sqlalchemy": 3, "neo_service_layer.api": 1}
