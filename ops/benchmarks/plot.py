"""Plots of `samu-bench suite` results: latency against offered rate, and latency histograms.

Usage: python3 ops/benchmarks/plot.py RESULTS_DIR   (reads results.json and the *.txt samples)
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402


def samples(path):
    with open(path) as handle:
        return [float(line) for line in handle if line.strip()]


def main(directory):
    with open(os.path.join(directory, "results.json")) as handle:
        results = json.load(handle)
    machine = results["machine"]

    sweep = results["sweep"]
    figure, axes = plt.subplots(figsize=(8, 5))
    rates = [step["rate"] for step in sweep]
    axes.plot(rates, [s["baseline_p50"] for s in sweep], "o--", color="grey", label="two raw hops, p50")
    axes.plot(rates, [s["baseline_p99"] for s in sweep], "s--", color="black", label="two raw hops, p99")
    axes.plot(rates, [s["samu_p50"] for s in sweep], "o-", color="tab:blue", label="samu report → decision, p50")
    axes.plot(rates, [s["samu_p99"] for s in sweep], "s-", color="tab:red", label="samu report → decision, p99")
    axes.axhline(100, color="tab:red", linewidth=0.8, linestyle=":", label="p99 limit of a sustained rate (100 ms)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.set_xticks(rates)
    axes.set_xlabel("offered rate (reports per second)")
    axes.set_ylabel("end-to-end latency (ms)")
    axes.set_title(f"Latency against offered rate (sustained: {results['sustained_rate']:.0f}/s)")
    axes.grid(True, which="both", linewidth=0.3)
    axes.legend(fontsize=8)
    figure.text(0.01, 0.01, machine, fontsize=7, color="grey")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    figure.savefig(os.path.join(directory, "latency-vs-rate.png"), dpi=120)

    latency = results["latency"]
    figure, panels = plt.subplots(1, len(latency), figsize=(6 * len(latency), 4.5), squeeze=False)
    for panel, entry in zip(panels[0], latency):
        rate = int(entry["rate"])
        base = samples(os.path.join(directory, f"hops-{rate}.txt"))
        samu = samples(os.path.join(directory, f"samu-{rate}.txt"))
        top = max(max(base), max(samu))
        bins = [top * i / 80 for i in range(81)]
        panel.hist(base, bins=bins, alpha=0.6, color="grey", label="two raw hops")
        panel.hist(samu, bins=bins, alpha=0.6, color="tab:blue", label="samu report → decision")
        for values, color in ((base, "black"), (samu, "tab:red")):
            ordered = sorted(values)
            panel.axvline(ordered[int(len(ordered) * 0.99) - 1], color=color, linestyle=":", linewidth=1)
        panel.set_title(f"{rate} reports/s (dotted: p99)")
        panel.set_xlabel("latency (ms)")
        panel.set_ylabel("reports")
        panel.legend(fontsize=8)
    figure.text(0.01, 0.01, machine, fontsize=7, color="grey")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(os.path.join(directory, "latency-histogram.png"), dpi=120)
    print(f"plots: {directory}/latency-vs-rate.png, {directory}/latency-histogram.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/performance")
