"""Timing helpers for comparing NumPy code with PyTorch in one process.

On 2 cores NumPy's and torch's thread pools slow each other down right after a switch, so we
pause between libraries and take the median of interleaved rounds.
"""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import time


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def interleaved_stats(fns: dict, rounds: int = 7, repeat: int = 3, pause: float = 0.5,
                      before: dict | None = None) -> dict:
    """``{name: (median, minimum)}`` seconds per call for each callable in `fns`, over
    interleaved rounds.

    Each round calls every function `repeat` times (after one warm-up call on the first round)
    and keeps the best of those; rounds alternate between the functions with a pause between.
    On a shared machine the minimum is the round least disturbed by other programs.
    ``before[name]``, where given, is called untimed ahead of that function's calls (to set a
    thread count, say).
    """
    before = before or {}
    times = {k: [] for k in fns}
    for k, f in fns.items():
        before.get(k, _nothing)()
        f()
    for _ in range(rounds):
        for k, f in fns.items():
            before.get(k, _nothing)()
            time.sleep(pause)
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                f()
                best = min(best, time.perf_counter() - t0)
            times[k].append(best)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def _nothing():
    pass


def interleaved(fns: dict, rounds: int = 7, repeat: int = 3, pause: float = 0.5) -> dict:
    """Median seconds per call for each callable in `fns`, over interleaved rounds (see
    `interleaved_stats`)."""
    return medians(interleaved_stats(fns, rounds, repeat, pause))


def medians(stats: dict) -> dict:
    """``{name: median seconds}`` from `interleaved_stats`' ``{name: (median, minimum)}``."""
    return {k: med for k, (med, _) in stats.items()}


def allocator() -> str:
    """Which memory allocator settings both libraries share in this process: `import cnnbook`
    asks glibc to keep freed memory (``cnnbook.fast.keep_freed_memory``), and PyTorch's
    temporaries come from the same heap. Measured: PyTorch's float64 conv2d in
    ``bench_conv.py`` took 195 ms with glibc's defaults and 103 ms with cnnbook's settings."""
    from cnnbook import fast          # the import sets them; asking again changes nothing
    if fast.keep_freed_memory():
        return "cnnbook's (`fast.keep_freed_memory`: freed memory kept), for both libraries"
    return "the C library's defaults for both libraries (CNNBOOK_KEEP_MEMORY=0, or not glibc)"


def header(command: str) -> str:
    import numpy as np
    import torch
    return (f"- command: `{command}`\n- date: {datetime.date.today().isoformat()}\n"
            f"- machine: {machine()}\n- numpy {np.__version__}, torch {torch.__version__}, "
            f"torch threads {torch.get_num_threads()}\n- memory allocator: {allocator()}\n")


def spread_note(stats: dict, ours: str = "cnnbook", theirs: str = "torch") -> str:
    """One sentence for a result: the ratio of the fastest rounds (each side's minimum) beside
    the ratio of medians, and the load average. On a machine whose speed drifts within minutes
    the two ratios bracket what a single run can say."""
    (m_o, lo_o), (m_t, lo_t) = stats[ours], stats[theirs]
    return (f"Ratio of medians {m_o / m_t:.2f}x, of the fastest rounds {lo_o / lo_t:.2f}x; "
            f"1-minute load average after the run {os.getloadavg()[0]:.2f}.")
