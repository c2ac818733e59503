"""The machine's own scale-out ceiling: a pure-Python CPU loop in N processes at once against one.

A 2-vCPU virtual machine need not give twice one vCPU's work when both are busy: its vCPUs may be
hyperthreads of one physical core, or share a busy host. Measured here on 2026-12-07 within one hour:
two processes of this loop at once did 1.16-1.19x the work of one in one minute, 1.64-2.09x in
others. So ``bench/scaling.py`` runs this loop between its windows, at each worker count, and reports
what the machine itself gave in the same minutes: a ceiling no server's speed-up can pass, and, when
the loops scale and the servers do not, proof that the shortfall is the servers' own (their CPU per
request growing with the processes sharing the cores), not the hardware's.

The loop is interpreter work (a dict store and integer arithmetic per iteration), as a worker's CPU
mostly is; no I/O, no allocation that grows, no GIL release.
"""

from __future__ import annotations

import subprocess
import sys

# Run by each process: iterations for ``seconds`` of its own wall time, printed as a count.
_LOOP = """
import sys, time
seconds = float(sys.argv[1])
table, count = {}, 0
start = time.perf_counter()
while time.perf_counter() - start < seconds:
    for i in range(1000):
        table[i % 97] = i * 3
    count += 1000
print(count)
"""
# Interpreter start-up is excluded (each process times its own loop), but processes must overlap:
# a process still starting while the others loop would flatter the pair.
MIN_SECONDS = 0.2


def cpu_loop_rates(processes: int, seconds: float) -> list[float]:
    """Iterations per second of the loop in each of ``processes`` processes run at once."""
    if processes < 1 or seconds < MIN_SECONDS:
        raise ValueError(f"processes must be at least 1 and seconds at least {MIN_SECONDS}")
    started = [
        subprocess.Popen([sys.executable, "-c", _LOOP, str(seconds)], stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    rates = []
    for process in started:
        out, _ = process.communicate(timeout=seconds + 30)
        if process.returncode != 0:
            raise RuntimeError(f"the CPU loop process exited with {process.returncode}")
        rates.append(int(out) / seconds)
    return rates


def scale_out(processes: int, seconds: float) -> float:
    """The work of ``processes`` loops at once over one loop's, measured one, ``processes``, one: this
    machine's speed moves within seconds (one pair of one-second windows gave 2.75x on 2 vCPUs), so
    the lone loop is the mean of a window before and one after."""
    before = sum(cpu_loop_rates(1, seconds))
    together = sum(cpu_loop_rates(processes, seconds))
    after = sum(cpu_loop_rates(1, seconds))
    return together / ((before + after) / 2)
