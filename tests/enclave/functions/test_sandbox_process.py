"""The sandbox process's confinement, observed from outside (/proc) and tried from inside (probe mode):
no key material module, no environment, no inherited descriptor but its socket, rlimits set, and the
seccomp filter refusing files, sockets, processes and signals."""

from __future__ import annotations

import ast
import errno
import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from neo_service_layer.enclave.functions import sandbox_worker
from neo_service_layer.enclave.functions.pool import WORKER_PATH, SandboxPool

X86_64 = os.uname().machine == "x86_64"


@pytest.fixture
async def pool() -> AsyncIterator[SandboxPool]:
    async with SandboxPool(1) as sandbox:
        yield sandbox


def _read_frame(sock: socket.socket) -> dict[str, Any]:
    header = sock.recv(4, socket.MSG_WAITALL)
    (size,) = struct.unpack(">I", header)
    message: dict[str, Any] = json.loads(sock.recv(size, socket.MSG_WAITALL))
    return message


def _probe() -> tuple[dict[str, Any], dict[str, Any]]:
    parent, child = socket.socketpair()
    with parent:
        process = subprocess.Popen(
            [sys.executable, "-I", str(WORKER_PATH), str(child.fileno()), "32", "--probe"],
            pass_fds=(child.fileno(),),
            env={},
            stdin=subprocess.DEVNULL,
        )
        child.close()
        parent.settimeout(30)
        ready, probe = _read_frame(parent), _read_frame(parent)
        assert process.wait(timeout=30) == 0
    return ready, probe


def test_the_worker_imports_only_the_standard_library_and_quickjs() -> None:
    # Nothing of the package (and so no key material module) is ever loaded in the sandbox process.
    tree = ast.parse(Path(sandbox_worker.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots - sys.stdlib_module_names == {"quickjs"}


@pytest.mark.skipif(not X86_64, reason="the seccomp filter has an x86-64 syscall table only")
def test_the_seccomp_filter_refuses_files_processes_sockets_and_signals() -> None:
    ready, probe = _probe()
    assert ready["seccomp"] == "x86_64-deny-list"
    assert probe["open"] == errno.EPERM
    assert probe["fork"] == errno.EPERM
    assert probe["socket"] == errno.EPERM
    assert probe["execv"] == errno.EPERM
    assert probe["kill_parent"] == errno.EPERM


def test_the_rlimits_are_set_and_root_is_dropped() -> None:
    ready, probe = _probe()
    if os.geteuid() == 0:
        assert probe["uid"] == sandbox_worker.NOBODY
        assert ready["user"] == f"uid {sandbox_worker.NOBODY}"
    limits = probe["rlimits"]
    assert limits["core"] == [0, 0]
    assert limits["nofile"] == [sandbox_worker.MAX_FILES] * 2
    assert limits["nproc"] == [0, 0]
    # Address space: the interpreter as it was, the pool's maximum memory (32 MiB) and the margin.
    assert limits["as"][0] == ready["address_space_ceiling"]
    assert 32 << 20 < limits["as"][0] < (32 << 20) + sandbox_worker.ADDRESS_SPACE_MARGIN + (1 << 30)


def test_the_seccomp_program_jumps_to_its_deny_return() -> None:
    program = sandbox_worker.seccomp_program()
    deny = len(program) - 1
    assert program[deny] == (0x06, 0, 0, 0x00050001)  # SECCOMP_RET_ERRNO | EPERM
    assert program[deny - 1] == (0x06, 0, 0, 0x7FFF0000)  # SECCOMP_RET_ALLOW
    tests = [(i, op) for i, op in enumerate(program) if op[0] in (0x15, 0x35) and i > 1]
    denied = {op[3] for _, op in tests}
    assert denied >= set(sandbox_worker.DENIED_SYSCALLS.values())
    assert all(i + 1 + op[1] == deny for i, op in tests)


async def test_a_pool_process_has_no_environment_and_only_its_socket(pool: SandboxPool) -> None:
    (pid,) = pool.pids()
    proc = Path(f"/proc/{pid}")
    assert (proc / "environ").read_bytes() == b""
    descriptors = {int(fd) for fd in os.listdir(proc / "fd")}
    # stdin/stdout/stderr on /dev/null, and the socket to the enclave.
    assert len(descriptors - {0, 1, 2}) == 1
    (extra,) = descriptors - {0, 1, 2}
    assert os.readlink(proc / "fd" / str(extra)).startswith("socket:")
    for fd in (0, 1, 2):
        assert os.readlink(proc / "fd" / str(fd)) == "/dev/null"
    status = dict(
        line.split(":\t", 1) for line in (proc / "status").read_text().splitlines() if ":\t" in line
    )
    assert status["NoNewPrivs"].strip() == ("1" if X86_64 else status["NoNewPrivs"].strip())
    if X86_64:
        assert status["Seccomp"].strip() == "2"  # SECCOMP_MODE_FILTER
    assert pool.seccomp == ("x86_64-deny-list" if X86_64 else pool.seccomp)
