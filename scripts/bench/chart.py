#!/usr/bin/env python3
"""The race chart: records/s per contender and acks policy, one panel per cluster, with
the spread over the runs as error bars. Reads race.json (bench.py report-race), writes an
SVG (or PNG, by the output's extension).

    target/bench-venv/bin/python scripts/bench/chart.py docs/bench/race.json docs/bench/race.svg
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ACKS = ("none", "leader", "all")
COLOURS = {"none": "#9ecae1", "leader": "#3182bd", "all": "#08519c"}
PHASE_TITLES = {"single": "one node", "cluster": "3 nodes (RF 3, min.insync.replicas 2)"}
SHORT = {
    "kcat": "raw librdkafka (kcat)",
    "perf": "Java producer (ProducerPerformance)",
    "connect": "Kafka Connect FileStreamSource",
    "sluice": "Sluice: orders → Kafka",
    "sluice-passthrough": "Sluice: + passthrough",
    "sluice-mask": "Sluice: + mask",
}


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    data = json.loads(Path(sys.argv[1]).read_text())
    phases = [p for p in ("single", "cluster") if p in data["phases"]]
    if not phases:
        print("chart.py: no phase in the results", file=sys.stderr)
        return 1
    # Stable output: no timestamps or random ids in the SVG.
    plt.rcParams.update({"svg.hashsalt": "sluice-race", "font.size": 9})
    contenders = []
    for p in phases:
        for row in data["phases"][p]["rows"]:
            if row["contender"] not in contenders:
                contenders.append(row["contender"])
    fig, axes = plt.subplots(1, len(phases), figsize=(6.2 * len(phases), 0.55 * len(contenders) + 1.8),
                             sharex=True, sharey=True, squeeze=False)
    height = 0.8 / len(ACKS)
    for ax, phase in zip(axes[0], phases):
        rows = {(r["contender"], r["acks"]): r for r in data["phases"][phase]["rows"]}
        for i, acks in enumerate(ACKS):
            ys, widths, lo, hi = [], [], [], []
            for j, c in enumerate(contenders):
                r = rows.get((c, acks))
                if not r or r["records_per_s"]["median"] is None:
                    continue
                s = r["records_per_s"]
                ys.append(j + (i - 1) * height)
                widths.append(s["median"] / 1000)
                lo.append((s["median"] - s["min"]) / 1000)
                hi.append((s["max"] - s["median"]) / 1000)
            if ys:
                ax.barh(ys, widths, height=height * 0.95, color=COLOURS[acks],
                        label=f"acks {acks}" if ax is axes[0][0] else None,
                        xerr=[lo, hi], error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#444"})
                for y, w, h in zip(ys, widths, hi):
                    ax.annotate(f"{w:,.0f}", (w + h, y), xytext=(3, 0), textcoords="offset points",
                                va="center", fontsize=7, color="#333")
        ax.set_title(PHASE_TITLES[phase])
        ax.set_xlabel("thousand records/s (median; bars: min–max over the runs)")
        ax.grid(axis="x", color="#ddd", linewidth=0.6)
        ax.set_axisbelow(True)
    # Shared y axis: invert it once, so the first contender is at the top.
    axes[0][0].invert_yaxis()
    axes[0][0].set_yticks(range(len(contenders)), [SHORT.get(c, c) for c in contenders])
    axes[0][0].margins(x=0.12)
    fig.legend(loc="lower center", ncol=len(ACKS), frameon=False, bbox_to_anchor=(0.5, 0))
    meta = data["meta"]
    fig.suptitle(f"{meta['records']:,} orders of ~{meta['mean_value_bytes']:.0f} B into Kafka "
                 f"{meta['kafka']}, {meta['cores']} cores, commit {meta['commit']}"
                 f"{' (quick mode: not for comparison)' if meta.get('quick') else ''}",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    out = Path(sys.argv[2])
    fig.savefig(out, metadata={"Date": None} if out.suffix == ".svg" else None)
    print(f"chart.py: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
