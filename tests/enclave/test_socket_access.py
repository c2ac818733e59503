"""Who may reach the enclave's socket: by default only its own user; with ``socket_group`` the members of
that group may connect, but neither list nor change the socket's directory, so none of them can swap
the socket for one of their own. The attacks run as another user (root only: ``setuid``)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from neo_service_layer.config import Settings
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.main import run_enclave
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.errors import ConfigurationError
from tests.enclave.test_run_enclave import NO_HARDWARE
from tests.enclave.test_server import assert_still_serving

# Run by another user with a system interpreter (-I: no site, no environment): prints what it managed.
PROBE = """
import json, os, socket, struct, sys
action, path = sys.argv[1], sys.argv[2]
try:
    if action == "connect":
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
        body = json.dumps({"v": 1, "id": 1, "op": "ping", "args": {}}).encode()
        conn.sendall(struct.pack(">I", len(body)) + body)
        size = struct.unpack(">I", conn.recv(4, socket.MSG_WAITALL))[0]
        reply = json.loads(conn.recv(size, socket.MSG_WAITALL))
        print("served" if reply["ok"] else "refused")
    elif action == "replace":
        os.unlink(path)
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(path)
        print("replaced")
    elif action == "list":
        os.listdir(os.path.dirname(path))
        print("listed")
except PermissionError:
    print("denied")
"""
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3")


def _runnable_by_anyone(path: Path) -> bool:
    """Whether another user can run ``path``: it and every directory above it are open to others."""
    resolved = path.resolve()
    return resolved.exists() and all(
        part.stat().st_mode & stat.S_IXOTH for part in (resolved, *resolved.parents)
    )


def _other_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


PYTHON = next((p for p in SYSTEM_PYTHONS if _runnable_by_anyone(Path(p))), None)
NOBODY = _other_user()
as_another_user = pytest.mark.skipif(
    os.geteuid() != 0 or PYTHON is None or NOBODY is None,
    reason="needs root (to switch users), a user 'nobody' and a system python3 others may run",
)


def probe(action: str, socket_path: Path, *, groups: list[int]) -> str:
    """Run ``action`` on the socket as user nobody with the given supplementary groups."""
    assert PYTHON is not None
    assert NOBODY is not None
    result = subprocess.run(
        [PYTHON, "-I", "-c", PROBE, action, str(socket_path)],
        user=NOBODY.pw_uid,
        group=NOBODY.pw_gid,
        extra_groups=groups,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A short directory others may traverse (mkdtemp's 0700 would stop the probe before our socket)."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix="nsl"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def group_server(
    ctx: EnclaveContext, registry: OpRegistry, open_dir: Path
) -> AsyncIterator[EnclaveServer]:
    server = EnclaveServer(ctx, registry, open_dir / "run" / "enclave.sock", socket_group=os.getegid())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_socket_group_opens_the_socket_to_the_group_only(group_server: EnclaveServer) -> None:
    socket_info, dir_info = group_server.path.lstat(), group_server.path.parent.lstat()
    assert (stat.S_IMODE(socket_info.st_mode), socket_info.st_gid) == (0o660, os.getegid())
    assert (stat.S_IMODE(dir_info.st_mode), dir_info.st_gid) == (0o710, os.getegid())
    await assert_still_serving(group_server.path)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give files to a group it is not in")
async def test_the_socket_and_its_directory_are_given_to_another_group(
    ctx: EnclaveContext, registry: OpRegistry, open_dir: Path
) -> None:
    other = os.getegid() + 4321  # root may give files to any gid, even one without a name
    server = EnclaveServer(ctx, registry, open_dir / "run" / "enclave.sock", socket_group=other)
    await server.start()
    try:
        assert (server.path.lstat().st_gid, server.path.parent.lstat().st_gid) == (other, other)
        assert stat.S_IMODE(server.path.lstat().st_mode) == 0o660
        await assert_still_serving(server.path)
    finally:
        await server.stop()


async def test_an_existing_socket_directory_is_given_to_the_group_and_closed_to_others(
    ctx: EnclaveContext, registry: OpRegistry, open_dir: Path
) -> None:
    run = open_dir / "run"
    run.mkdir()
    run.chmod(0o777)  # e.g. made by hand: anyone could swap the socket
    server = EnclaveServer(ctx, registry, run / "enclave.sock", socket_group=os.getegid())
    await server.start()
    try:
        assert stat.S_IMODE(run.lstat().st_mode) == 0o710
    finally:
        await server.stop()


@as_another_user
@pytest.mark.parametrize(
    ("action", "member", "outcome"),
    [
        pytest.param("connect", True, "served", id="member-connects"),
        pytest.param("connect", False, "denied", id="outsider-cannot-connect"),
        pytest.param("replace", True, "denied", id="member-cannot-swap-the-socket"),
        pytest.param("list", True, "denied", id="member-cannot-list-the-directory"),
    ],
)
async def test_group_access_as_another_user(
    group_server: EnclaveServer, action: str, member: bool, outcome: str
) -> None:
    groups = [os.getegid()] if member else []
    assert await _probe_async(action, group_server.path, groups) == outcome
    await assert_still_serving(group_server.path)  # the socket is still the enclave's


@as_another_user
async def test_without_a_group_another_user_cannot_connect_even_in_our_group(
    ctx: EnclaveContext, registry: OpRegistry, open_dir: Path
) -> None:
    server = EnclaveServer(ctx, registry, open_dir / "run" / "enclave.sock")
    await server.start()
    try:
        assert await _probe_async("connect", server.path, [os.getegid()]) == "denied"
    finally:
        await server.stop()


async def _probe_async(action: str, socket_path: Path, groups: list[int]) -> str:
    # In a thread: the enclave under test answers on this event loop meanwhile.
    return await asyncio.to_thread(probe, action, socket_path, groups=groups)


@pytest.mark.parametrize(
    ("group", "own_directory", "message"),
    [
        pytest.param("0", False, "directory of its own", id="socket-in-the-state-dir"),
        pytest.param("no-such-group-nsl", True, "does not exist", id="unknown-group"),
    ],
)
async def test_a_socket_group_needs_its_own_directory_and_a_real_group(
    short_dir: Path, group: str, own_directory: bool, message: str
) -> None:
    socket_path = short_dir / ("run" if own_directory else "enclave") / "enclave.sock"
    settings = Settings(data_dir=short_dir, enclave={"socket": socket_path, "socket_group": group})
    with pytest.raises(ConfigurationError, match=message):
        await run_enclave(settings, devices=NO_HARDWARE)
    assert not (short_dir / "enclave" / "state.sealed").exists()  # refused before touching the state
