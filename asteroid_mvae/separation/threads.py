"""Threads for the CPU engine chosen from the cores other processes leave free.

The engine's iterations are many short parallel steps (IP kernels split over frequencies, torch's
OpenMP products): each step waits for its slowest thread. When other processes hold the cores,
a second thread is descheduled most of the time and every step waits for it, so two threads can
be several times slower than one (``benchmarks/under_load.py``, ``benchmarks/results/under_load``).

:func:`load_adapted_threads` lowers (never raises) torch's thread count for the duration of a
separation to the cores not used by other processes, measured from ``/proc/stat`` (all CPU time)
minus this process's own CPU time since the previous measurement. Linux only; elsewhere, and with
``ASTEROID_MVAE_THREADS=fixed``, torch's setting stands. The estimates of ILRMA, AuxIVA and the
FastMVAE family do not depend on the thread count (tested); MVAE's and GASS's differ in the last
bit between thread counts, so pin ``ASTEROID_MVAE_THREADS=fixed`` to compare their bytes across
loads.
"""

import contextlib
import os
import threading
import time

import torch

#: a measurement older than this is replaced by a fresh short window
MAX_AGE_S = 30.0
#: length of a fresh measurement window (this process idle meanwhile)
WINDOW_S = 0.02

_lock = threading.Lock()
_last = None  # (wall time, system busy seconds, own CPU seconds)
_answer = None  # the last measurement's cores used by others


def _system_busy_seconds():
    """CPU seconds spent by every process so far (``/proc/stat``), or None where unreadable."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu":
        return None
    values = [int(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (sum(values[:8]) - idle) / ticks  # user..steal; guest time is already in user


def _sample():
    busy = _system_busy_seconds()
    if busy is None:
        return None
    return time.monotonic(), busy, time.process_time()


def cores_used_by_others():
    """Mean number of cores other processes kept busy since the previous measurement (the previous
    answer when that is younger than :data:`WINDOW_S`; a fresh :data:`WINDOW_S` window when there
    is none younger than :data:`MAX_AGE_S`); None if unknown."""
    global _last, _answer
    with _lock:
        now = _sample()
        if now is None:
            return None
        if _last is not None and now[0] - _last[0] < WINDOW_S and _answer is not None:
            return _answer
        if _last is None or now[0] - _last[0] > MAX_AGE_S:
            time.sleep(WINDOW_S)
            _last, now = now, _sample()
        wall, busy, own = (b - a for a, b in zip(_last, now))
        _last = now
        _answer = max(0.0, (busy - own) / wall) if wall > 0 else None
        return _answer


def adapted_thread_count(requested: int) -> int:
    """``requested`` lowered to the cores of this process's affinity that others leave free (at least 1)."""
    if requested <= 1 or os.environ.get("ASTEROID_MVAE_THREADS", "adapt") == "fixed":
        return requested
    others = cores_used_by_others()
    if others is None:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(requested, int(cores - others + 0.5)))


@contextlib.contextmanager
def load_adapted_threads(device: torch.device):
    """Within the block, torch's CPU threads lowered by :func:`adapted_thread_count`; restored after.
    No-op on other devices."""
    requested = torch.get_num_threads()
    count = adapted_thread_count(requested) if torch.device(device).type == "cpu" else requested
    if count == requested:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(requested)
