"""The paper's two claims on any test set, in one call: ILRMA vs FastMVAE2 vs re-trained FastMVAE2.

1. J rises less often: the fraction of iterations at which ``J`` increases, and ``J``
   against iteration (the paper's Fig. 5);
2. better separation: SI-SDR improvement against iteration and at the end (Fig. 4).

Each test CSV (one number of sources N each) is evaluated with
:func:`asteroid_mvae.evaluation.evaluate` into ``out_dir/N<n>_<k>/`` (resumable), then the
rows and curves are gathered into ``out_dir`` (mixture ids prefixed by the sub-folder) and
:func:`asteroid_mvae.evaluation.make_report` writes ``results.md``, ``final_metrics.json``,
``curves.json`` and the PNGs; ``claims.md`` / ``claims.json`` hold the two claims' numbers
and ``objective_raw_vs_iteration.png`` the mean ``J - J_0`` against iteration.
"""

import json
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..data.datasets import MixtureSubset
from ..separation import StftConfig
from ..utils.io import atomic_path, write_text

METHODS = ("ILRMA", "FastMVAE2", "FastMVAE2-retrained")


def build_separators(
    network_package, retrained_model, n_src: int, n_iter: int, stft_config: StftConfig, methods: Sequence[str] = METHODS
) -> Dict[str, object]:
    """``{name: separator}`` for one number of sources."""
    from ..models import FastMVAE2, load_model

    args = dict(
        n_src=n_src,
        n_iter=n_iter,
        n_fft=stft_config.n_fft,
        hop_length=stft_config.hop_length,
        window=stft_config.window,
    )
    builders = {
        "ILRMA": lambda: load_model("ilrma", **args),
        "FastMVAE2": lambda: FastMVAE2.from_network_package(network_package, **args),
        "FastMVAE2-retrained": lambda: load_model(str(retrained_model), **args),
    }
    unknown = [m for m in methods if m not in builders]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose among {list(builders)}")
    return {m: builders[m]().eval() for m in methods}


def compare(
    network_package,
    retrained_model,
    test_csvs: Sequence,
    out_dir,
    n_iter: int = 50,
    stft_config: Optional[StftConfig] = None,
    methods: Sequence[str] = METHODS,
    metrics: Sequence[str] = ("si_sdr",),
    max_mixtures: Optional[int] = None,
    progress: bool = True,
) -> Path:
    """Evaluate ``methods`` on every test CSV and write the claim report; returns ``claims.md``."""
    import pandas as pd

    from ..data.datasets import MixtureDataset
    from ..evaluation import evaluate, make_report
    from ..evaluation.evaluate import CURVES_JSONL, METRICS_CSV
    from ..evaluation.report import load_curves
    from ..networks import load_network_package

    if stft_config is None:
        network, _ = load_network_package(network_package)
        stft_config = StftConfig(2 * network.n_freq, network.n_freq)
    out_dir = Path(out_dir)
    frames, curves = [], []
    for k, csv_path in enumerate(test_csvs):
        dataset = MixtureDataset(csv_path)
        sub = out_dir / f"N{dataset.n_src}_{k}"
        separators = build_separators(network_package, retrained_model, dataset.n_src, n_iter, stft_config, methods)
        subset = dataset if max_mixtures is None else MixtureSubset(dataset, range(min(len(dataset), max_mixtures)))
        evaluate(
            separators,
            subset,
            sub,
            metrics_list=list(metrics),
            stft_config=stft_config,
            n_examples=0,
            progress=progress,
        )
        frame = pd.read_csv(sub / METRICS_CSV)
        frame["mixture_id"] = sub.name + "/" + frame["mixture_id"].astype(str)
        frames.append(frame)
        for rec in load_curves(sub / CURVES_JSONL):
            curves.append({**rec, "mixture_id": f"{sub.name}/{rec['mixture_id']}"})
    with atomic_path(out_dir / METRICS_CSV) as tmp:
        pd.concat(frames, ignore_index=True).to_csv(tmp, index=False)
    write_text(out_dir / CURVES_JSONL, "".join(json.dumps(rec) + "\n" for rec in curves))
    make_report(out_dir)
    claims = claim_numbers(curves)
    write_text(out_dir / "claims.json", json.dumps(claims, indent=2) + "\n")
    write_text(out_dir / "claims.md", claims_table(claims))
    plot_raw_objective(claims, out_dir / "objective_raw_vs_iteration.png")
    return out_dir / "claims.md"


def claim_numbers(curves: Sequence[dict]) -> dict:
    """``{N: {method: {...}}}``: mean J-increase fraction, final SI-SDR improvement (mean, std),
    mean SI-SDR improvement and mean ``J - J_0`` per iteration."""
    grouped = {}
    for rec in curves:
        grouped.setdefault(f"N={rec['n_src']}", {}).setdefault(rec["method"], []).append(rec)
    out = {}
    for n_key, per_method in sorted(grouped.items()):
        for method, recs in per_method.items():
            length = min(len(r["si_sdr_imp"]) for r in recs)
            si = np.array([r["si_sdr_imp"][:length] for r in recs], dtype=np.float64)
            J = np.array(
                [[np.nan if v is None else v for v in r["objective"][:length]] for r in recs], dtype=np.float64
            )
            fractions = [r["j_increase_fraction"] for r in recs if r.get("j_increase_fraction") is not None]
            out.setdefault(n_key, {})[method] = {
                "n_mixtures": len(recs),
                "j_increase_fraction": float(np.mean(fractions)) if fractions else None,
                "final_si_sdr_imp": float(si[:, -1].mean()),
                "final_si_sdr_imp_std": float(si[:, -1].std()),
                "iterations": recs[0]["iterations"][:length],
                "si_sdr_imp": si.mean(0).tolist(),
                "objective_minus_initial": np.nanmean(J - J[:, :1], 0).tolist(),
            }
    for n_key, per_method in out.items():
        _add_paired_difference(per_method, grouped[n_key])
    return out


def _add_paired_difference(
    per_method: dict, recs_by_method: dict, method: str = "FastMVAE2-retrained", base: str = "FastMVAE2"
) -> None:
    """Per-mixture ``final SI-SDRi(method) - final SI-SDRi(base)``: mean, standard error, wins.

    Paired over the same mixtures, this is far less noisy than comparing the two means.
    """
    if method not in recs_by_method or base not in recs_by_method:
        return
    final = {m: {r["mixture_id"]: r["si_sdr_imp"][-1] for r in recs_by_method[m]} for m in (method, base)}
    common = sorted(set(final[method]) & set(final[base]))
    if not common:
        return
    diff = np.array([final[method][k] - final[base][k] for k in common], dtype=np.float64)
    per_method[method]["paired_vs_" + base] = {
        "n_mixtures": len(common),
        "mean_difference": float(diff.mean()),
        "standard_error": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else None,
        "wins": int((diff > 0).sum()),
    }


def claims_table(claims: dict) -> str:
    lines = [
        "# Encoder re-training: the paper's two claims",
        "",
        "| N | method | mixtures | J-increase fraction | final SI-SDR improvement (dB) |",
        "|---|---|---|---|---|",
    ]
    for n_key, per_method in claims.items():
        for method, c in per_method.items():
            frac = "–" if c["j_increase_fraction"] is None else f"{c['j_increase_fraction']:.3f}"
            lines.append(
                f"| {n_key[2:]} | {method} | {c['n_mixtures']} | {frac} | "
                f"{c['final_si_sdr_imp']:.2f} ± {c['final_si_sdr_imp_std']:.2f} |"
            )
    paired = [
        (n_key, method, c)
        for n_key, per_method in claims.items()
        for method, c in per_method.items()
        if any(k.startswith("paired_vs_") for k in c)
    ]
    if paired:
        lines += [
            "",
            "Paired over the same mixtures (final SI-SDR improvement, method minus base):",
            "",
            "| N | method | base | mixtures | mean difference (dB) | standard error (dB) | wins |",
            "|---|---|---|---|---|---|---|",
        ]
        for n_key, method, c in paired:
            for key, d in c.items():
                if key.startswith("paired_vs_"):
                    se = "–" if d["standard_error"] is None else f"{d['standard_error']:.2f}"
                    lines.append(
                        f"| {n_key[2:]} | {method} | {key[len('paired_vs_') :]} | {d['n_mixtures']} | "
                        f"{d['mean_difference']:+.2f} | {se} | {d['wins']}/{d['n_mixtures']} |"
                    )
    return "\n".join(lines) + "\n"


def plot_raw_objective(claims: dict, path: Path) -> None:
    """Mean ``J_i - J_0`` against iteration, one panel per N (the paper's Fig. 5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(claims)
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(5 * max(1, len(keys)), 3.5), squeeze=False)
    for ax, n_key in zip(axes[0], keys):
        for method, c in claims[n_key].items():
            ax.plot(c["iterations"], c["objective_minus_initial"], label=method)
        ax.set_title(n_key)
        ax.set_xlabel("iteration")
        ax.set_ylabel("J - J_0 (mean over mixtures)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
