"""CPU time of the processes a benchmark runs side by side — the flow, the benchmark itself, a
local Kafka broker — read from ``/proc`` over one wall-clock window.

On a shared two-core machine a latency figure moves with everything else running, so a run
also reports what each process took of the machine meanwhile: the flow's CPU per event is a
figure two runs can be compared on when their latencies cannot (``benchmarks.freshness``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CpuSampler", "local_broker_pids", "machine_cpu_s", "peak_rss_mb", "process_cpu_s", "with_descendants"]

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far, all its threads; ``None`` if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_cpu_s() -> tuple[float, float] | None:
    """CPU seconds the whole machine spent busy so far, summed over its cores (everything but
    idle and I/O wait), and of those stolen by the hypervisor, from ``/proc/stat``; ``None``
    where it cannot be read. Whether the cores were full during a run, whoever used them."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    ticks += [0] * (8 - len(ticks))
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICKS, ticks[7] / _TICKS


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident memory of process ``pid`` so far (``VmHWM``), MiB; ``None`` if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def with_descendants(pids: Iterable[int]) -> list[int]:
    """``pids`` and every process below them now (a ``streamfeat run -p N`` and its members)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def local_broker_pids() -> list[int]:
    """The processes of a Kafka broker running on this machine (its JVM's main class
    ``kafka.Kafka``, as ``deploy/local/kafka.sh`` starts it); empty when the broker is elsewhere."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" in command:
            pids.append(int(entry.name))
    return pids


class CpuSampler:
    """CPU seconds of each role's processes at each :meth:`sample`; :meth:`summary` gives
    each role's share of one core between the first and last sample, and per interval."""

    def __init__(self, roles: Mapping[str, Iterable[int]], *, clock: Any = time.monotonic) -> None:
        self.roles = {role: list(pids) for role, pids in roles.items()}
        self._clock = clock
        self.samples: list[tuple[float, dict[str, float | None]]] = []
        self.peak_rss_mb: dict[str, float] = {}  # per role, the largest sum of its processes' peaks seen
        self.machine: list[tuple[float, float] | None] = []  # machine_cpu_s() at each sample

    def sample(self) -> None:
        self.machine.append(machine_cpu_s())
        taken: dict[str, float | None] = {}
        for role, pids in self.roles.items():
            seconds = [process_cpu_s(pid) for pid in pids]
            taken[role] = None if not pids or None in seconds else sum(s for s in seconds if s is not None)
            peaks = [peak_rss_mb(pid) for pid in pids]
            if pids and None not in peaks:
                self.peak_rss_mb[role] = max(self.peak_rss_mb.get(role, 0.0), sum(p for p in peaks if p is not None))
        self.samples.append((self._clock(), taken))

    def summary(self, events: int) -> dict[str, Any]:
        """``percent_of_one_core`` per role over the whole window (``None``: not measured),
        ``flow_us_per_event`` (when a ``flow`` role is sampled), ``percent_per_interval`` and
        ``peak_rss_mb`` per role (the processes' peak resident memory at the last sample);
        ``machine``: the whole machine's busy and stolen CPU (``busy_percent_of_one_core``,
        ``steal_percent_of_one_core``, ``busy_percent_per_interval``; ``cores``)."""
        if len(self.samples) < 2:
            return {"window_s": 0.0, "percent_of_one_core": {}, "percent_per_interval": {}, "flow_us_per_event": None,
                    "peak_rss_mb": {}, "machine": None}  # fmt: skip
        (start, first), (end, last) = self.samples[0], self.samples[-1]
        wall = max(end - start, 1e-9)

        def used(a: dict[str, float | None], b: dict[str, float | None], role: str) -> float | None:
            before, after = a[role], b[role]
            return None if before is None or after is None else after - before

        whole = {role: used(first, last, role) for role in self.roles}
        per_interval: dict[str, list[float | None]] = {role: [] for role in self.roles}
        for (t0, a), (t1, b) in zip(self.samples, self.samples[1:]):
            for role in self.roles:
                spent = used(a, b, role)
                per_interval[role].append(None if spent is None else round(100 * spent / max(t1 - t0, 1e-9), 1))
        flow = whole.get("flow")
        return {
            "window_s": round(wall, 1),
            "percent_of_one_core": {
                role: None if spent is None else round(100 * spent / wall, 1) for role, spent in whole.items()
            },
            "percent_per_interval": per_interval,
            "flow_us_per_event": None if flow is None or not events else round(flow / events * 1e6, 2),
            "peak_rss_mb": {role: round(mb) for role, mb in self.peak_rss_mb.items()},
            "machine": self._machine_summary(),
        }

    def _machine_summary(self) -> dict[str, Any] | None:
        times = [t for t, _ in self.samples]
        if len(self.machine) != len(times) or None in self.machine:
            return None
        machine = [m for m in self.machine if m is not None]
        wall = max(times[-1] - times[0], 1e-9)
        return {
            "cores": os.cpu_count(),
            "busy_percent_of_one_core": round(100 * (machine[-1][0] - machine[0][0]) / wall, 1),
            "steal_percent_of_one_core": round(100 * (machine[-1][1] - machine[0][1]) / wall, 1),
            "busy_percent_per_interval": [
                round(100 * (b[0] - a[0]) / max(t1 - t0, 1e-9), 1)
                for (t0, a), (t1, b) in zip(zip(times, machine), zip(times[1:], machine[1:]))
            ],
        }
