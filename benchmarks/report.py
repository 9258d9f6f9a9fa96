"""Turn the list of runs into medians, ratios, a markdown table and a PNG chart."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clients.registry import CEILING, REFERENCE
from .scenarios import SCENARIOS

OK, FAIL, NA, SKIP = "ok", "fail", "n/a", "skip"


def metrics(unit: str, res: dict[str, Any]) -> dict[str, float]:
    """Throughput (req/s or MB/s), CPU per request (µs) or per MB (ms), RSS in MiB."""
    wall, cpu = res.get("wall_s") or 0.0, res.get("cpu_s") or 0.0
    reqs, nbytes = res.get("requests") or 0, res.get("bytes") or 0
    if unit == "req":
        rate = reqs / wall if wall > 0 else 0.0
        cpu_per = cpu / reqs * 1e6 if reqs else 0.0
    else:
        mb = nbytes / 1e6
        rate = mb / wall if wall > 0 else 0.0
        cpu_per = cpu / mb * 1e3 if mb else 0.0
    return {
        "rate": rate,
        "cpu_per": cpu_per,
        "rss_mib": (res.get("maxrss_kib") or 0) / 1024,
        "rss_growth_mib": max(0, (res.get("hwm_kib") or 0) - (res.get("rss_start_kib") or 0))
        / 1024,
    }


@dataclass
class Cell:
    """Every run of one client on one scenario, summarised."""

    scenario: str
    client: str
    status: str = OK                  # ok (at least one run ok), fail, n/a, skip
    runs: int = 0
    ok: int = 0
    partial: int = 0
    rate: float = 0.0
    rate_min: float = 0.0
    rate_max: float = 0.0
    cpu_per: float = 0.0
    rss_mib: float = 0.0
    growth_mib: float = 0.0
    reasons: list[str] = field(default_factory=list)
    vs_ref: float | None = None
    vs_raw: float | None = None


def summarize(runs: list[dict[str, Any]], clients: list[str],
              scenarios: list[str]) -> dict[tuple[str, str], Cell]:
    cells: dict[tuple[str, str], Cell] = {}
    for scn in scenarios:
        for cl in clients:
            mine = [r for r in runs if r["scenario"] == scn and r["client"] == cl]
            if not mine:
                continue
            cell = Cell(scn, cl)
            done = [r for r in mine if r["status"] in (OK, FAIL)]
            good = [r for r in done if r["status"] == OK]
            cell.runs, cell.ok = len(done), len(good)
            cell.reasons = sorted({r["reason"] for r in mine if r.get("reason")})
            if not done:
                cell.status = mine[0]["status"]
            elif not good:
                cell.status = FAIL
            else:
                rates = [r["metrics"]["rate"] for r in good]
                cell.rate = statistics.median(rates)
                cell.rate_min, cell.rate_max = min(rates), max(rates)
                cell.cpu_per = statistics.median(r["metrics"]["cpu_per"] for r in good)
                cell.rss_mib = statistics.median(r["metrics"]["rss_mib"] for r in good)
                cell.growth_mib = statistics.median(
                    r["metrics"]["rss_growth_mib"] for r in good)
                cell.partial = sum(1 for r in good if r["result"].get("partial"))
            cells[scn, cl] = cell
    for (scn, _), cell in cells.items():
        ref, raw = cells.get((scn, REFERENCE)), cells.get((scn, CEILING))
        if cell.status == OK:
            if ref and ref.status == OK and ref.rate:
                cell.vs_ref = cell.rate / ref.rate
            if raw and raw.status == OK and raw.rate:
                cell.vs_raw = cell.rate / raw.rate
    return cells


def _num(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def markdown(cells: dict[tuple[str, str], Cell], clients: list[str], scenarios: list[str],
             header: list[str]) -> str:
    """The results table, a ratio matrix, and the notes on failures and gaps."""
    lines = list(header)
    lines += ["", "| Scen. | Client | Throughput: median (min–max) | × awscrt-sync | × raw "
              "| CPU | Peak RSS | RSS Δ | OK |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    notes: list[str] = []
    for scn in scenarios:
        s = SCENARIOS[scn]
        unit = "req/s" if s.unit == "req" else "MB/s"
        cpu_unit = "µs/req" if s.unit == "req" else "ms/MB"
        for cl in clients:
            c = cells.get((scn, cl))
            if c is None:
                continue
            if c.status != OK:
                label = {FAIL: "FAIL", NA: "n/a", SKIP: "skipped"}[c.status]
                ok = f"{c.ok}/{c.runs}" if c.runs else "–"
                lines.append(f"| {scn} | {cl} | **{label}** | – | – | – | – | – | {ok} |")
                notes += [f"- {scn} {cl}: {label}: {r}" for r in c.reasons[:3]]
                continue
            mark = " †" if c.partial else ""
            thr = f"{_num(c.rate)} {unit} ({_num(c.rate_min)}–{_num(c.rate_max)}){mark}"
            ok = f"{c.ok}/{c.runs}" + (" FAIL" if c.ok < c.runs else "")
            lines.append(
                f"| {scn} | {cl} | {thr} | {_ratio(c.vs_ref)} | {_ratio(c.vs_raw)} "
                f"| {_num(c.cpu_per)} {cpu_unit} | {c.rss_mib:.0f} MiB | {c.growth_mib:.1f} MiB "
                f"| {ok} |")
            if c.ok < c.runs:
                notes += [f"- {scn} {cl}: {c.runs - c.ok} failed run(s): {r}"
                          for r in c.reasons[:3]]
    lines += ["", "Ratio to awscrt-sync (median throughput):", "",
              "| Scen. | " + " | ".join(clients) + " |",
              "|---|" + "---:|" * len(clients)]
    for scn in scenarios:
        row = []
        for cl in clients:
            c = cells.get((scn, cl))
            if c is None:
                row.append("")
            elif c.status == OK:
                row.append(_ratio(c.vs_ref))
            else:
                row.append({FAIL: "FAIL", NA: "n/a", SKIP: "skip"}[c.status])
        lines.append(f"| {scn} | " + " | ".join(row) + " |")
    lines += ["", "Scenarios: " + "; ".join(f"{n} {SCENARIOS[n].title}" for n in scenarios) + ".",
              "† a run reached its time limit before its request count: the rate is over "
              "the requests it did. RSS Δ: peak RSS growth during the timed section."]
    if notes:
        lines += ["", "Not measured or failed (full reasons in the JSON file):", ""]
        lines += sorted(set(notes))
    return "\n".join(lines) + "\n"


def chart(cells: dict[tuple[str, str], Cell], clients: list[str], scenarios: list[str],
          path: Path, title: str) -> str | None:
    """Grouped bars of each client's ratio to awscrt-sync per scenario (log scale).

    Returns None on success, else why no chart was drawn.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"matplotlib unavailable: {exc}"
    shown = [cl for cl in clients if any(
        (c := cells.get((s, cl))) and c.vs_ref for s in scenarios)]
    scns = [s for s in scenarios if any(
        (c := cells.get((s, cl))) and c.vs_ref for cl in shown)]
    if not shown or not scns:
        return "no ratios to plot (the reference client has no successful run)"
    fig, ax = plt.subplots(figsize=(min(16.0, 3.0 + 1.2 * len(scns)), 5.5))
    width = 0.8 / len(shown)
    cmap = plt.get_cmap("tab10")
    for i, cl in enumerate(shown):
        xs, ys = [], []
        for j, s in enumerate(scns):
            c = cells.get((s, cl))
            if c and c.vs_ref:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(c.vs_ref)
        ax.bar(xs, ys, width, label=cl, color=cmap(i % 10))
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(scns)), scns)
    ax.set_ylabel("throughput / awscrt-sync (log)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, ncol=min(5, len(shown)), loc="upper center",
              bbox_to_anchor=(0.5, -0.07), frameon=False)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
