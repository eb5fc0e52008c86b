"""Summaries of an evaluation folder: ``final_metrics.json``, ``curves.json``, ``results.md``, PNG plots.

Reads ``all_metrics.csv`` and ``curves.jsonl`` written by :func:`~asteroid_mvae.evaluation.evaluate.evaluate`.
Rows of the table are (method, number of sources); cells are mean ± std over mixtures.
``J`` curves are normalised per mixture (1 at the start, 0 at the minimum) before averaging,
since methods have different objectives and offsets.
"""

import json
from pathlib import Path
from typing import Dict, List

import numpy as np

from .. import catalogue
from ..utils.io import atomic_path, write_text
from .curves import normalized_objective
from .evaluate import CURVES_JSONL, METRICS_CSV
from .metrics import ALL_METRICS

TABLE_METRICS = [f"{m}_imp" for m in ALL_METRICS] + list(ALL_METRICS)
SUMMARY_COLUMNS = ["processing_s", "rtf", "j_increase_fraction", "n_iter"]
#: The table's groups, in order: (title, catalogue kinds). A method is named ``NAME`` or
#: ``NAME=PATH``; a name the catalogue does not know goes to :data:`DEFAULT_GROUP`.
GROUPS = (
    ("Oracle ceilings (given the true source images)", ("oracle",)),
    ("asteroid-mvae separators", ("iterative", "deep", "frame-prior", "supervised-nmf", "mixture-trained")),
    ("pyroomacoustics built-ins", ("pyroomacoustics",)),
    ("PIT networks (single channel, reference microphone)", ("pit",)),
)
DEFAULT_GROUP = GROUPS[1][0]
#: below this many mixtures per N the table says it cannot rank methods.
MIN_MIXTURES_TO_RANK = 20


def load_curves(path) -> List[dict]:
    """Curve records, the last one kept for each (method, N, mixture): ids repeat across N."""
    path = Path(path)
    if not path.exists():
        return []
    records = {}
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a half-written last line of an interrupted run
                continue
            records[(rec["method"], rec.get("n_src"), rec["mixture_id"])] = rec
    return list(records.values())


def summarize(df) -> Dict[str, Dict[str, dict]]:
    """``{method: {"N=<n_src>": {column: {"mean", "std"}, "n_mixtures": k}}}``."""
    summary = {}
    columns = [c for c in TABLE_METRICS + SUMMARY_COLUMNS if c in df.columns]
    for (method, n_src), group in df.groupby(["method", "n_src"], sort=True):
        stats = {"n_mixtures": int(len(group))}
        for col in columns:
            values = group[col].astype(float).dropna()
            if len(values):
                stats[col] = {"mean": float(values.mean()), "std": float(values.std(ddof=0))}
        summary.setdefault(str(method), {})[f"N={int(n_src)}"] = stats
    return summary


def average_curves(records: List[dict]) -> Dict[str, Dict[str, dict]]:
    """Mean SI-SDR improvement and normalised ``J`` per iteration for each (method, N)."""
    grouped = {}
    for rec in records:
        grouped.setdefault((rec["method"], rec["n_src"]), []).append(rec)
    out = {}
    for (method, n_src), recs in sorted(grouped.items()):
        length = min(len(r["si_sdr_imp"]) for r in recs)
        entry = {
            "iterations": recs[0]["iterations"][:length],
            "si_sdr_imp": np.mean([r["si_sdr_imp"][:length] for r in recs], 0).tolist(),
            "n_mixtures": len(recs),
        }
        normalised = [normalized_objective(r["objective"]) for r in recs]
        normalised = [n for n in normalised if n is not None]
        if normalised:
            n_len = min(len(n) for n in normalised)
            entry["objective_normalized"] = np.mean([n[:n_len] for n in normalised], 0).tolist()
        fractions = [r["j_increase_fraction"] for r in recs if r.get("j_increase_fraction") is not None]
        entry["j_increase_fraction"] = float(np.mean(fractions)) if fractions else None
        out.setdefault(method, {})[f"N={n_src}"] = entry
    return out


def group_of(method: str) -> str:
    """The table group of a method name (see :data:`GROUPS`)."""
    entry = catalogue.find(method.split("=")[0])
    return next((title for title, kinds in GROUPS if entry is not None and entry.kind in kinds), DEFAULT_GROUP)


def markdown_table(summary) -> str:
    """One table per group (oracles, ours, pyroomacoustics, PIT); rows (method, N); a legend."""
    present = [c for c in TABLE_METRICS if any(c in s for m in summary.values() for s in m.values())]
    headers = (
        ["method", "N", "mixtures", "iterations"]
        + [f"{c} (dB)" if c.startswith(("si_sdr", "sdr", "sir", "sar")) else c for c in present]
        + ["s / mixture", "RTF", "J-increase fraction"]
    )
    sections, smallest = [], None
    for title, _ in GROUPS:
        methods = [m for m in summary if group_of(m) == title]
        if not methods:
            continue
        lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for method in methods:
            for n_key, stats in sorted(summary[method].items(), key=lambda kv: int(kv[0][2:])):
                smallest = stats["n_mixtures"] if smallest is None else min(smallest, stats["n_mixtures"])
                iterations = stats.get("n_iter", {}).get("mean")
                cells = [
                    method,
                    n_key[2:],
                    str(stats["n_mixtures"]),
                    "–" if not iterations or iterations != iterations else f"{iterations:.0f}",
                ]
                cells += [f"{stats[c]['mean']:.2f} ± {stats[c]['std']:.2f}" if c in stats else "–" for c in present]
                cells += [f"{stats[c]['mean']:.3g}" if c in stats else "–" for c in SUMMARY_COLUMNS[:3]]
                lines.append("| " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    legend = (
        "N: number of sources (the mixtures have as many microphones). Metric cells: mean ± standard "
        "deviation over the mixtures, in dB; `_imp`: improvement over the unprocessed mixture at the "
        "reference microphone, against each source's reverberant image there (permutation solved by "
        "SI-SDR). iterations: the iterative methods' own iterations (an ILRMA start not counted; – for "
        "the others). s / mixture: processing time; RTF: that time over the audio duration. "
        "J-increase fraction: share of iterations where the objective J rose (0 for "
        "majorisation-minimisation methods)."
    )
    caveat = (
        ""
        if smallest is None or smallest >= MIN_MIXTURES_TO_RANK
        else (
            f"\n\n**Caveat:** {smallest} test mixture(s) per N cannot rank methods (their differences are "
            f"within the mixture-to-mixture spread); compare on >= {MIN_MIXTURES_TO_RANK} mixtures with paired "
            "differences."
        )
    )
    return "\n\n".join(sections) + "\n\n" + legend + caveat + "\n"


def _save_figure(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")


def plot_curves(curves, out_dir: Path, key: str, ylabel: str, filename: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_keys = sorted({n for per_n in curves.values() for n in per_n})
    fig, axes = plt.subplots(1, max(len(n_keys), 1), figsize=(5 * max(len(n_keys), 1), 3.5), squeeze=False)
    for ax, n_key in zip(axes[0], n_keys):
        for method, per_n in curves.items():
            entry = per_n.get(n_key)
            if entry and key in entry:
                ax.plot(entry["iterations"][: len(entry[key])], entry[key], label=method)
        ax.set_title(f"N = {n_key[2:]} sources")
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save_figure(fig, out_dir / filename)
    plt.close(fig)


METRIC_TITLES = {
    "si_sdr_imp": "SI-SDR improvement",
    "sdr_imp": "SDR improvement",
    "sir_imp": "SIR improvement",
    "stoi_imp": "STOI improvement",
    "pesq_imp": "PESQ improvement",
}


def plot_final_metrics(summary, out_dir: Path, filename: str = "final_metrics.png"):
    """One row of panels per N, one panel per improvement metric; horizontal bars (mean ± std
    over mixtures), methods grouped as in the table, units on the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        c for c in TABLE_METRICS if c.endswith("_imp") and any(c in s for m in summary.values() for s in m.values())
    ]
    n_keys = sorted({n for per_n in summary.values() for n in per_n}, key=lambda k: int(k[2:]))
    order = [m for title, _ in GROUPS for m in summary if group_of(m) == title]
    rows, cols = max(len(n_keys), 1), max(len(metrics), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 0.35 * len(order) * rows + 1.2 * rows), squeeze=False)
    for r, n_key in enumerate(n_keys):
        for c, metric in enumerate(metrics):
            ax = axes[r][c]
            names = [m for m in order if metric in summary[m].get(n_key, {})]
            means = [summary[m][n_key][metric]["mean"] for m in names]
            stds = [summary[m][n_key][metric]["std"] for m in names]
            colors = [f"C{[t for t, _ in GROUPS].index(group_of(m))}" for m in names]
            ax.barh(range(len(names)), means, xerr=stds, capsize=2, color=colors)
            ax.set_yticks(range(len(names)), names, fontsize=8)
            ax.invert_yaxis()
            ax.axvline(0, color="k", lw=0.6)
            unit = "" if metric.startswith(("stoi", "pesq")) else " (dB)"
            ax.set_xlabel(METRIC_TITLES.get(metric, metric) + unit)
            ax.set_title(f"N = {n_key[2:]} sources" if c == 0 else "", loc="left", fontsize=9)
            ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Mean ± std over test mixtures; colours: oracle / ours / pyroomacoustics / PIT", fontsize=9)
    fig.tight_layout()
    _save_figure(fig, out_dir / filename)
    plt.close(fig)


def make_report(out_dir) -> Dict[str, Path]:
    """Write ``final_metrics.json``, ``curves.json``, ``results.md`` and the PNGs; return their paths."""
    import pandas as pd

    out_dir = Path(out_dir)
    csv_path = out_dir / METRICS_CSV
    if not csv_path.exists():
        raise FileNotFoundError(f"{csv_path} not found: run the evaluation (or merge its shards) first.")
    df = pd.read_csv(csv_path)
    if df.empty:
        raise ValueError(f"{csv_path} has no rows.")
    summary = summarize(df)
    curves = average_curves(load_curves(out_dir / CURVES_JSONL))
    for method, per_n in curves.items():  # the J-increase fraction from the curves when the CSV lacks it
        for n_key, entry in per_n.items():
            stats = summary.get(method, {}).get(n_key)
            if stats is not None and "j_increase_fraction" not in stats and entry["j_increase_fraction"] is not None:
                stats["j_increase_fraction"] = {"mean": entry["j_increase_fraction"], "std": float("nan")}
    paths = {
        "final_metrics": out_dir / "final_metrics.json",
        "curves": out_dir / "curves.json",
        "table": out_dir / "results.md",
        "final_plot": out_dir / "final_metrics.png",
    }
    write_text(paths["final_metrics"], json.dumps(summary, indent=2))
    per_mixture = {}
    for rec in load_curves(out_dir / CURVES_JSONL):
        per_mixture.setdefault(rec["method"], {}).setdefault(f"N={rec.get('n_src')}", {})[rec["mixture_id"]] = rec
    write_text(paths["curves"], json.dumps({"mean": curves, "per_mixture": per_mixture}))
    write_text(paths["table"], "# Separation results\n\n" + markdown_table(summary))
    plot_final_metrics(summary, out_dir)
    if curves:
        paths["si_sdr_plot"] = out_dir / "si_sdr_imp_vs_iteration.png"
        paths["objective_plot"] = out_dir / "objective_vs_iteration.png"
        plot_curves(curves, out_dir, "si_sdr_imp", "SI-SDR improvement (dB)", paths["si_sdr_plot"].name)
        plot_curves(
            curves,
            out_dir,
            "objective_normalized",
            "normalised J: (J - min) / (J_0 - min) per mixture",
            paths["objective_plot"].name,
        )
    return paths


def paired_differences(df, method: str, baseline: str, column: str = "si_sdr_imp") -> dict:
    """Per-mixture ``column(method) - column(baseline)`` over their common mixtures:
    ``{"n", "mean", "se", "wins"}`` (se: standard error of the mean; empty when nothing in common)."""
    a = df[df["method"] == method].set_index("mixture_id")[column].astype(float)
    b = df[df["method"] == baseline].set_index("mixture_id")[column].astype(float)
    common = a.index.intersection(b.index)
    if len(common) == 0:
        return {}
    diff = (a[common] - b[common]).to_numpy()
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    return {"n": int(len(diff)), "mean": float(diff.mean()), "se": se, "wins": int((diff > 0).sum())}


def paired_table(csv_path, baseline: str = "ilrma", ceiling: str = "oracle_ip") -> str:
    """Markdown table of one evaluation (one N): mean SI-SDR improvement per method, its paired
    difference against ``baseline`` (± standard error, wins), the fraction of the
    ``baseline`` -> ``ceiling`` gap it closes (on common mixtures), J-increase fraction, s/mixture."""
    import pandas as pd

    df = pd.read_csv(csv_path)
    lines = [
        f"| method | mixtures | SI-SDRi (dB) | minus {baseline}, paired (dB) | better | "
        f"gap {baseline} -> {ceiling} closed | J-increase fraction | s/mixture |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = df.groupby("method")["si_sdr_imp"].mean().sort_values(ascending=False).index
    for method in order:
        rows = df[df["method"] == method]
        paired = paired_differences(df, method, baseline) if method != baseline else {}
        same_mixtures = df[df["mixture_id"].isin(rows["mixture_id"])]
        gap = paired_differences(same_mixtures, ceiling, baseline) if paired else {}
        closed = ""
        if gap and gap["n"] == paired["n"] and abs(gap["mean"]) > 1e-9:
            closed = f"{paired['mean'] / gap['mean']:.2f}"
        jinc = pd.to_numeric(rows.get("j_increase_fraction", pd.Series(dtype=float)), errors="coerce").dropna()
        lines.append(
            "| {} | {} | {:.2f} ± {:.2f} | {} | {} | {} | {} | {:.2f} |".format(
                method,
                len(rows),
                rows["si_sdr_imp"].mean(),
                rows["si_sdr_imp"].std(ddof=0),
                f"{paired['mean']:+.2f} ± {paired['se']:.2f}" if paired else "",
                f"{paired['wins']}/{paired['n']}" if paired else "",
                closed,
                f"{float(np.mean(jinc)):.3f}" if len(jinc) else "",
                rows["processing_s"].mean(),
            )
        )
    lines.append("")
    lines.append(
        f"SI-SDRi: mean ± standard deviation over mixtures. Paired: mean over common mixtures of the "
        f"per-mixture difference to {baseline} ± its standard error; better: mixtures where the "
        f"method beats {baseline}. Gap closed: paired difference / ({ceiling} minus {baseline})."
    )
    return "\n".join(lines)
