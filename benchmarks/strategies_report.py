"""The Markdown report and the PNG plots of :mod:`benchmarks.strategies`, from its results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamfeat.workload import DAY_MS

WINDOW_ORDER = ("1h", "7d", "30d", "365d", "lifetime")
TILE_MS = {"tiles_1m": 60_000, "tiles_1h": 3_600_000, "tiles_1d": DAY_MS}
HOUR_MS = 3_600_000


def _ok(report: dict[str, Any], workload: str | None = None) -> list[dict[str, Any]]:
    return [c for c in report["cells"] if c["status"] == "ok" and (workload is None or c["workload"] == workload)]


# -- plots ---------------------------------------------------------------------------------------


def plots(report: dict[str, Any], out: Path) -> list[str]:
    """Three PNGs under ``out``; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    workloads = list(report["workloads"])
    names = []

    def per_window(metric: str, ylabel: str, filename: str, title: str) -> None:
        cols = 2 if len(workloads) > 1 else 1
        rows = -(-len(workloads) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.2 * rows), squeeze=False)
        for ax, wname in zip(axes.flat, workloads):
            cells = _ok(report, wname)
            rows_here = list(dict.fromkeys(c["row"] for c in report["cells"]))
            for row in dict.fromkeys(c["row"] for c in cells):
                points = sorted(
                    ((WINDOW_ORDER.index(c["window"]), _metric(c, metric)) for c in cells if c["row"] == row),
                )
                if points:
                    color = plt.cm.tab20(rows_here.index(row) % 20)
                    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=row, color=color)
            ax.set_xticks(range(len(WINDOW_ORDER)), WINDOW_ORDER)
            ax.set_yscale("log")
            ax.set_title(wname)
            ax.set_xlabel("window")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
        for ax in list(axes.flat)[len(workloads) :]:
            ax.axis("off")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize="small")
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0.08, 1, 0.96))
        fig.savefig(out / filename, dpi=90)
        plt.close(fig)
        names.append(filename)

    per_window(
        "events_per_cpu_s",
        "events per CPU-second (apply_batch)",
        "strategies_throughput.png",
        "Throughput vs window length (CPU time: robust on a shared machine; wall events/s in the tables)",
    )
    per_window("state", "serialized bytes per entity (mean)", "strategies_state.png", "State size vs window length")

    fig, axes = plt.subplots(1, len(workloads), figsize=(4.5 * len(workloads), 4), squeeze=False)
    for ax, wname in zip(axes.flat, workloads):
        cells = [c for c in _ok(report, wname) if c["row"] in TILE_MS]
        for window in WINDOW_ORDER:
            pts = sorted((TILE_MS[c["row"]], c["accuracy"]["rel_mean"]) for c in cells if c["window"] == window)
            if pts:
                ax.plot([p[0] / 60_000 for p in pts], [p[1] for p in pts], marker="o", label=f"{window} window")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-5)
        ax.set_ylim(bottom=0)
        ax.set_xticks([1, 60, 1440], ["1 min", "1 h", "1 d"])
        ax.set_xlabel("tile size")
        ax.set_ylabel("mean relative error vs exact")
        ax.set_title(wname)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Count error vs tile size (reads as of each batch's last arrival)")
    fig.tight_layout()
    fig.savefig(out / "strategies_error_vs_tile.png", dpi=90)
    plt.close(fig)
    names.append("strategies_error_vs_tile.png")
    return names


def _metric(cell: dict[str, Any], metric: str) -> float:
    if metric == "state":
        return max(cell["state_serialized_bytes"]["mean"], 1.0)
    if metric == "events_per_cpu_s":
        return 1e6 / cell["cpu_us_per_event"] if cell["cpu_us_per_event"] else 0.0
    return float(cell[metric] or 0)


# -- markdown ------------------------------------------------------------------------------------


def _dur(ms: int) -> str:
    if ms == 0:
        return "0"
    if ms % DAY_MS == 0:
        return f"{ms // DAY_MS} d"
    if ms >= HOUR_MS:
        return f"{ms / HOUR_MS:.1f} h"
    return f"{ms / 60_000:.0f} min"


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def headline_section(h: dict[str, Any]) -> list[str]:
    f = h["features"]
    life, exact, daily = f["lifetime"], f["exact_365d"], f["daily_365d"]
    tiles = f.get("tiles_365d")
    end, cps = h["differences_at_end"], h["differences_over_checkpoints"]
    d_life, d_daily = end["lifetime"], end["daily_365d"]
    c_daily = cps["daily_365d"]
    lines = [
        "## Lifetime count vs exact 365-day count vs 365-day count in daily tiles updated daily",
        "",
        (
            f"On {h['workload']}: {h['events']:,} events, {h['entities']:,} users; values read for every user as of the "
            f"last arrival ({h['read_time_utc']}), and for {h['checkpoints_sampled_entities']:,} sampled users at "
            "checkpoints through the stream. Exact 365-day count = the reference. The fourth row reads the same daily "
            "tiles continuously (no refresh), to separate the cost of the tiles from that of the daily publication."
        ),
        "",
        (
            "| feature | CPU µs/event | events/s | state B/user, mean (RocksDB value) | p99 | heaviest user "
            "(events: B) | Python memory B/user | state total MB | value at most this old "
            "| users whose value ≠ exact 365 d (end) | mean abs diff (end) | p99 relative diff (end) "
            "| mean relative diff (checkpoints) |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, fig in f.items():
        diff, cp = end.get(key), cps.get(key)
        diff_cols = (
            "reference | 0 | 0 | 0"
            if diff is None
            else (
                f"{_pct(diff['share_differing'])} | {diff['abs_mean']:.3f} | {_pct(diff['rel_p99'])} "
                f"| {_pct(cp['rel_mean'])}"
            )
        )
        heavy = fig.get("heaviest_user") or {}
        heavy_col = f"{heavy['events']:,}: {heavy['serialized_bytes']:,}" if heavy else ""
        lines.append(
            f"| `{fig['expr']}` | {fig['cpu_us_per_event']:.2f} | {fig['events_per_s']:,} "
            f"| {fig['state_serialized_bytes_mean']:,.0f} | {fig['state_serialized_bytes_p99']:,.0f} | {heavy_col} "
            f"| {fig['state_memory_bytes_mean']:,.0f} | {fig['state_serialized_total_mb']:,.1f} "
            f"| {_dur(fig['staleness_bound_ms'])} | {diff_cols} |"
        )
    ratio_state = exact["state_serialized_bytes_mean"] / max(daily["state_serialized_bytes_mean"], 1e-9)
    ratio_mem = exact["state_memory_bytes_mean"] / max(daily["state_memory_bytes_mean"], 1e-9)
    heavy_exact = (exact.get("heaviest_user") or {}).get("serialized_bytes")
    heavy_daily = (daily.get("heaviest_user") or {}).get("serialized_bytes")
    heavy_text = (
        f" For the heaviest user the gap is {heavy_exact / max(heavy_daily, 1):,.0f}× "
        f"({heavy_exact:,} B vs {heavy_daily:,} B)."
        if heavy_exact and heavy_daily
        else ""
    )
    tiles_text = (
        ""
        if tiles is None
        else (
            f" The same tiles read continuously cost {tiles['cpu_us_per_event']:.2f} µs/event and differ from the "
            f"exact count for {_pct(end['tiles_365d']['share_differing'])} of users at the end: most of the daily "
            "feature's CPU and difference come from its refresh (sealing a snapshot at each publication), not its tiles."
        )
    )
    lines += [
        "",
        "**In one minute:**",
        "",
        (
            f"- **Lifetime count** is the cheapest ({life['cpu_us_per_event']:.2f} µs/event, "
            f"{life['state_serialized_bytes_mean']:,.0f} B/user) but it is a different feature: it never forgets. At the "
            f"end of this stream it exceeds the 365-day count for {_pct(d_life['share_differing'])} of users "
            f"(those with events older than 365 days; by {d_life['abs_mean']:.2f} events on average over all users, "
            f"up to {d_life['abs_max']:,.0f}); the gap grows with the stream's history."
        ),
        (
            f"- **Exact 365-day count** is exact at every read but keeps every event of the year: "
            f"{exact['state_serialized_bytes_mean']:,.0f} B/user serialized on average, "
            f"{exact['state_memory_bytes_mean']:,.0f} B/user in Python memory, {exact['cpu_us_per_event']:.2f} µs/event; "
            "its state grows with each user's activity."
        ),
        (
            f"- **365-day count in daily tiles, updated daily** keeps at most one number per day: "
            f"{daily['state_serialized_bytes_mean']:,.0f} B/user serialized on average ({ratio_state:.1f}× less than "
            f"exact), {daily['state_memory_bytes_mean']:,.0f} B/user in memory ({ratio_mem:.1f}× less).{heavy_text} "
            f"It costs {daily['cpu_us_per_event']:.2f} µs/event here. Its value is frozen at the last midnight and "
            f"published at 02:00, so it can be up to {_dur(daily['staleness_bound_ms'])} old: at the end it differs "
            f"from the exact count for {_pct(d_daily['share_differing'])} of users, by {_pct(d_daily['rel_mean'])} on "
            f"average (p99 {_pct(d_daily['rel_p99'])}; mean signed difference {d_daily['mean_signed']:+.4f} events: it "
            "misses what arrived since its last publication and still counts what left the exact window since then); "
            f"over the checkpoints, {_pct(c_daily['rel_mean'])} on average.{tiles_text}"
        ),
        "",
    ]
    return lines


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    p = report["parameters"]
    lines = [
        "# Window strategies: cost and accuracy",
        "",
        f"Written by `{report['command']}` on {report['timestamp']} in {report['seconds']} s — do not edit by hand.",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, {m['python']}; load average at start "
        f"{m['load_average_at_start']}, at end {report['load_average_at_end']}; git {m['git_commit']}"
        + (" (with uncommitted changes to operators/ or streamfeat/)" if m.get("git_dirty") else ""),
        (
            f"- each cell: one-feature view (allowed lateness {p['allowed_lateness']}), the workload through "
            f"`ViewOperator.apply_batch` in batches of {p['batch']:,} (only those calls timed: wall → events/s, "
            f"process CPU → µs/event); after each batch, untimed, {p['checkpoint_sample']} sampled entities read as of the "
            "batch's last arrival. Accuracy: those reads against the same reads of the exact event log of the same window "
            "(count rows) or of the exact distinct count (distinct rows); relative error over reads with a non-zero exact value."
        ),
        (
            f"- state: `len(op.to_bytes(state))` per entity — the value the RocksDB state store holds per entity, before "
            f"RocksDB compression (mean over up to {p['state_sample']:,} entities); memory: deep `sys.getsizeof` of the "
            f"entity's Python state (mean over {p['memory_sample']}); read: `op.read` at the end, mean over up to "
            f"{p['read_sample']:,} entities, and the heaviest entity."
        ),
        (
            "- staleness: how old the served value's as-of time can be — 0 for continuously updated windows (the runtime "
            "adds its batch delay, see `streaming.md`), refresh + publish lag for the daily-refreshed feature; old edge: "
            "tiles start the window at a tile boundary, so events leave up to one tile early."
        ),
        "",
    ]
    if report.get("headline"):
        lines += headline_section(report["headline"])
    lines += ["## Matrix", ""]
    for wname, w in report["workloads"].items():
        lines += [
            f"### {wname}: {w['description']}",
            "",
            (
                f"{w['events']:,} events, {w['users_seen']:,} entities, event times over {w['event_time_span_days']} days, "
                f"{w['checkpoints']} checkpoints × {w['sampled_entities']} sampled entities."
            ),
            "",
            (
                "| strategy | window | events/s | CPU µs/event | B/entity serialized | B/entity memory | heaviest entity "
                "(events: B serialized) | read µs mean | read µs heaviest | mean rel err | max rel err | max abs err "
                "| stale ≤ | old edge early ≤ |"
            ),
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in _ok(report, wname):
            a = c["accuracy"]
            err = (
                "| | |"
                if a.get("reference") is None
                else f"| {a['rel_mean']:.2e} | {a['rel_max']:.2e} | {a['abs_max']:,.0f} |"
            )
            if a.get("reference") == c["row"]:
                err = "| exact (reference) | | |"
            h = c["heaviest_entity"]
            lines.append(
                f"| {c['label']} | {c['window']} | {c['events_per_s']:,} | {c['cpu_us_per_event']:.2f} "
                f"| {c['state_serialized_bytes']['mean']:,.0f} | {c['state_memory_bytes']['mean']:,.0f} "
                f"| {h['events']:,}: {h['serialized_bytes']:,} | {c['read_us']['mean']:.1f} | {h['read_us']:,.1f} "
                f"{err} {_dur(c['staleness_max_ms'])} | {_dur(c['old_edge_early_max_ms'])} |"
            )
        lines.append("")
    skipped: dict[tuple[str, str], str] = {}
    for c in report["cells"]:
        if c["status"] == "skipped":
            skipped.setdefault((c["label"], c["window"]), c["reason"])
    if skipped:
        lines += ["### Skipped cells (in every workload)", "", "| strategy | window | why |", "|---|---|---|"]
        lines += [f"| {label} | {window} | {why} |" for (label, window), why in skipped.items()]
        lines.append("")
    if report["plots"]:
        lines += ["## Plots", ""]
        lines += [f"![{name}]({name})" for name in report["plots"]]
        lines.append("")
    return "\n".join(lines)
