"""Semi-amortized inference on a real-speech zoo: FastMVAE2 with ``refine_steps`` and MVAE started
from the ChimeraACVAE encoder, against ILRMA, with settings chosen on training-sentence mixtures.

On a zoo built by ``zoo_vcc2018.py`` (its CVAE, ChimeraACVAE and mixtures; speaker-closed or,
with ``--train-corpus`` there, speaker-open):

1. ``select``: the refinement's learning rate and label handling are chosen at ``--select-steps``
   on the first ``--select-mixtures`` training mixtures per N (``mix_train_*``, never tested):
   best mean SI-SDR improvement over both N. The test mixtures play no part in the choice.
2. ``evaluate``: on the zoo's test mixtures (RT60 0.3 s), rows ``fastmvae2_refine<k>`` for every
   ``--steps`` k at the chosen setting, ``fastmvae2_refine<k>_monotone`` (the J-guard) for
   ``--monotone-steps``, ``mvae_chimera<s>`` (MVAE from the encoder's answer, ``s`` Adam steps per
   iteration) for ``--mvae-steps``, beside ILRMA, AuxIVA, FastMVAE2 and the oracle ceiling. Rows
   join the zoo's evaluation folders (``<zoo>/eval/rt300_n<N>``) and resume.
3. ``timing``: seconds per 10-s mixture of every row on ``--timing-mixtures`` test mixtures with
   ``--threads`` threads: run it alone on a quiet machine (the evaluation's own times are taken
   while other jobs may run).
4. ``report``: ``table.md`` (paired against ILRMA and against FastMVAE2, J-increase fraction,
   s/mixture from ``timing``) and ``frontier.png`` (SI-SDRi against s/mixture) into ``--results``;
   with ``--open-zoo`` the speaker-open zoo's rows too.

Example::

    python egs/vcc2018/local/zoo_refine.py --zoo exp/zoo --stages select evaluate --threads 1
    python egs/vcc2018/local/zoo_refine.py --zoo exp/zoo --stages timing --threads 2
    python egs/vcc2018/local/zoo_refine.py --zoo exp/zoo --open-zoo exp/zoo_open --stages report
"""

import argparse
import itertools
import json
import logging
import sys
import time
from pathlib import Path

import zoo_vcc2018 as zoo

STAGES = ("select", "evaluate", "timing", "report")
BASELINES = ("ilrma", "auxiva", "oracle_ip", "fastmvae2")
log = logging.getLogger("zoo_refine")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="exp/zoo")
    parser.add_argument("--open-zoo", default=None, help="report: the speaker-open zoo (same test mixtures)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 3, 10], help="refine_steps of the test rows")
    parser.add_argument("--monotone-steps", type=int, nargs="*", default=[3], help="rows with the J-guard too")
    parser.add_argument("--mvae-steps", type=int, nargs="*", default=[5, 10], help="MVAE-from-encoder rows")
    parser.add_argument("--mvae-iter", type=int, default=30, help="MVAE-from-encoder iterations (identity start)")
    parser.add_argument("--select-steps", type=int, default=3)
    parser.add_argument("--select-lr", type=float, nargs="+", default=[0.01, 0.03])
    parser.add_argument("--select-label", nargs="+", default=["optimise", "fixed"])
    parser.add_argument("--select-mixtures", type=int, default=8, help="training mixtures per N for the choice")
    parser.add_argument("--test-mixtures", type=int, default=24)
    parser.add_argument("--timing-mixtures", type=int, default=3)
    parser.add_argument("--results", default="egs/vcc2018/results/zoo_refine")
    return parser.parse_args(argv)


def zoo_args(args, zoo_dir):
    """The zoo's settings; its training corpus (speaker-open zoos) from the arguments it was built with."""
    built = [json.loads(p.read_text()) for p in sorted(Path(zoo_dir).glob("args_*.json"))]
    train_corpus = next((b["train_corpus"] for b in built if b.get("train_corpus")), None)
    extra = ["--train-corpus", train_corpus] if train_corpus else []
    open_speakers = next((b["open_test_speakers"] for b in built if b.get("open_test_speakers")), None)
    extra += ["--open-test-speakers", *open_speakers] if open_speakers else []
    return zoo.parse_args(
        ["--out", str(zoo_dir), "--threads", str(args.threads), "--test-mixtures", str(args.test_mixtures), *extra]
    )


def candidate_name(lr: float, label: str) -> str:
    return f"refine_lr{lr:g}_{label}"


def fastmvae2(zargs, zoo_dir, n_src, **options):
    from asteroid_mvae.models import FastMVAE2

    return FastMVAE2.from_network_package(
        Path(zoo_dir) / "chimera" / "network.pt",
        n_src=n_src,
        n_iter=zargs.n_iter,
        n_fft=zargs.n_fft,
        hop_length=zargs.n_fft // 2,
        **options,
    )


def stage_select(args, zoo_dir: Path) -> dict:
    """Chosen ``{"refine_lr", "refine_label"}`` (best mean SI-SDRi over both N on training mixtures)."""
    import pandas as pd

    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.data.datasets import MixtureSubset
    from asteroid_mvae.evaluation import evaluate

    zargs = zoo_args(args, zoo_dir)
    chosen_path = zoo_dir / "refine" / "chosen.json"
    scores = []
    for n_src in args.n_src:
        csv = zoo.mixtures(zargs, zoo_dir, "train", n_src, max(zargs.retrain_mixtures, args.select_mixtures))
        dataset = MixtureDataset(csv)
        subset = MixtureSubset(dataset, list(range(min(args.select_mixtures, len(dataset)))))
        seps = {"ilrma": "ilrma", "fastmvae2": fastmvae2(zargs, zoo_dir, n_src)}
        for lr, label in itertools.product(args.select_lr, args.select_label):
            seps[candidate_name(lr, label)] = fastmvae2(
                zargs, zoo_dir, n_src, refine_steps=args.select_steps, refine_lr=lr, refine_label=label
            )
        folder = zoo_dir / "refine" / f"select_n{n_src}"
        csv_path = evaluate(
            seps,
            subset,
            folder,
            metrics_list=["si_sdr"],
            n_examples=0,
            track_iterations=False,
            stft_config=zoo.stft_config(zargs),
            progress=sys.stderr.isatty(),
            separator_options={"n_iter": zargs.n_iter},
        )
        scores.append(pd.read_csv(csv_path).groupby("method")["si_sdr_imp"].mean().rename(n_src))
    table = pd.concat(scores, axis=1)
    table["mean"] = table.mean(axis=1)
    candidates = [candidate_name(lr, lab) for lr, lab in itertools.product(args.select_lr, args.select_label)]
    best = table.loc[candidates, "mean"].idxmax()
    lr, label = next(
        (lr, lab) for lr, lab in itertools.product(args.select_lr, args.select_label) if candidate_name(lr, lab) == best
    )
    chosen = {
        "refine_lr": lr,
        "refine_label": label,
        "select_steps": args.select_steps,
        "select_mixtures": args.select_mixtures,
        "training_si_sdri": table.round(3).to_dict(),
    }
    chosen_path.parent.mkdir(parents=True, exist_ok=True)
    chosen_path.write_text(json.dumps(chosen, indent=1))
    log.info("training-mixture SI-SDRi (dB):\n%s\nchosen: lr %g, label %s", table.round(2), lr, label)
    return chosen


def chosen_setting(zoo_dir: Path) -> dict:
    path = zoo_dir / "refine" / "chosen.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run --stages select first")
    chosen = json.loads(path.read_text())
    return {"refine_lr": chosen["refine_lr"], "refine_label": chosen["refine_label"]}


def test_separators(args, zoo_dir: Path, n_src: int) -> dict:
    """{row: separator} of the refinement rows (the baselines come from the zoo's own evaluation)."""
    from asteroid_mvae.models import MVAE

    zargs, setting = zoo_args(args, zoo_dir), chosen_setting(zoo_dir)
    seps = {f"fastmvae2_refine{k}": fastmvae2(zargs, zoo_dir, n_src, refine_steps=k, **setting) for k in args.steps}
    for k in args.monotone_steps:
        seps[f"fastmvae2_refine{k}_monotone"] = fastmvae2(
            zargs, zoo_dir, n_src, refine_steps=k, monotone=True, **setting
        )
    for s in args.mvae_steps:
        seps[f"mvae_chimera{s}"] = MVAE.from_network_package(
            zoo_dir / "cvae" / "network.pt",
            start_package=zoo_dir / "chimera" / "network.pt",
            n_src=n_src,
            n_iter=args.mvae_iter,
            init_ilrma=0,
            n_steps=s,
            n_fft=zargs.n_fft,
            hop_length=zargs.n_fft // 2,
        )
    return seps


def test_dataset(args, zoo_dir: Path, n_src: int):
    from asteroid_mvae.data import MixtureDataset

    return MixtureDataset(zoo.mixtures(zoo_args(args, zoo_dir), zoo_dir, "test", n_src, args.test_mixtures, 0.3))


def cost_rank(name: str) -> int:
    """Rough cost order of a row: baselines, FastMVAE2 refined by k steps (k), MVAE from the encoder."""
    import re

    steps = re.search(r"(?:refine|chimera)(\d+)", name)
    steps = int(steps.group(1)) if steps else 0
    return 1000 + steps if name.startswith("mvae") else steps


def cost_groups(names) -> list:
    """Rows in groups of rising cost: every group runs on all mixtures and both N before the next,
    so a stopped evaluation leaves whole rows."""
    ranks = sorted({cost_rank(n) for n in names})
    return [[n for n in names if cost_rank(n) == r] for r in ranks]


def stage_evaluate(args, zoo_dir: Path):
    from asteroid_mvae.evaluation import evaluate

    zargs = zoo_args(args, zoo_dir)
    seps = {
        n_src: {
            **{name: sep for name, sep in zoo.separators(zargs, zoo_dir, n_src).items() if name in BASELINES},
            **test_separators(args, zoo_dir, n_src),
        }
        for n_src in args.n_src
    }
    for group in cost_groups(list(seps[args.n_src[0]])):
        for n_src in args.n_src:
            folder = zoo_dir / "eval" / f"rt300_n{n_src}"
            log.info("evaluate N=%d: %s", n_src, ", ".join(group))
            evaluate(
                {name: seps[n_src][name] for name in group},
                test_dataset(args, zoo_dir, n_src),
                folder,
                metrics_list=["si_sdr", "sdr", "sir", "sar"],
                n_examples=0,
                stft_config=zoo.stft_config(zargs),
                progress=sys.stderr.isatty(),
                separator_options={"n_iter": zargs.n_iter},
            )
    for n_src in args.n_src:
        print(zoo.zoo_table(zoo_dir / "eval" / f"rt300_n{n_src}" / "all_metrics.csv", 0.3, n_src))


def stage_timing(args, zoo_dir: Path):
    """Seconds per mixture (mean of ``--timing-mixtures``, after one warm-up run) -> ``timing.json``."""
    from asteroid_mvae.evaluation.registry import get_separator

    zargs = zoo_args(args, zoo_dir)
    times = {}
    for n_src in args.n_src:
        dataset = test_dataset(args, zoo_dir, n_src)
        options = dict(n_iter=zargs.n_iter, stft_config=zoo.stft_config(zargs))
        seps = {
            **{
                name: sep
                for name, sep in zoo.separators(zargs, zoo_dir, n_src).items()
                if name in ("ilrma", "auxiva", "fastmvae2")
            },
            **test_separators(args, zoo_dir, n_src),
        }
        mixtures = [dataset[i][0] for i in range(args.timing_mixtures)]
        for name, sep in seps.items():
            sep = get_separator(sep, n_src=n_src, **options) if isinstance(sep, str) else sep
            sep.forward_wav(mixtures[0][None])  # warm-up (kernels, allocator)
            start = time.perf_counter()
            for mixture in mixtures:
                sep.forward_wav(mixture[None])
            times[f"{name}|{n_src}"] = (time.perf_counter() - start) / len(mixtures)
            log.info("timing N=%d %s: %.2f s/mixture", n_src, name, times[f"{name}|{n_src}"])
    import torch

    info = {"threads": torch.get_num_threads(), "mixtures": args.timing_mixtures, "seconds": times}
    path = zoo_dir / "refine" / "timing.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=1))
    return info


def rows(args, zoo_dir: Path, n_src: int, timing: dict):
    """Per method of the refinement study: dict of the table's columns."""
    import pandas as pd

    from asteroid_mvae.evaluation.report import paired_differences

    df = pd.read_csv(zoo_dir / "eval" / f"rt300_n{n_src}" / "all_metrics.csv")
    wanted = list(BASELINES) + list(test_separators(args, zoo_dir, n_src))
    out = []
    for method in wanted:
        part = df[df["method"] == method]
        if part.empty:
            continue
        vs_ilrma = paired_differences(df, method, "ilrma") if method != "ilrma" else {}
        vs_fast = paired_differences(df, method, "fastmvae2") if method not in ("fastmvae2", "ilrma") else {}
        jinc = pd.to_numeric(part["j_increase_fraction"], errors="coerce").dropna()
        out.append(
            {
                "method": method,
                "n": len(part),
                "si_sdri": part["si_sdr_imp"].mean(),
                "vs_ilrma": vs_ilrma,
                "vs_fast": vs_fast,
                "jinc": float(jinc.mean()) if len(jinc) else None,
                "seconds": timing.get(f"{method}|{n_src}"),
            }
        )
    return out


def fmt_paired(p: dict) -> str:
    return f"{p['mean']:+.2f} ± {p['se']:.2f} ({p['wins']}/{p['n']})" if p else ""


def stage_report(args, zoo_dir: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zoos = {"speaker-closed": zoo_dir}
    if args.open_zoo:
        zoos["speaker-open"] = Path(args.open_zoo)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    lines = []
    fig, axes = plt.subplots(1, len(args.n_src), figsize=(6 * len(args.n_src), 4.5), squeeze=False)
    for name, folder in zoos.items():
        # the networks of both zoos have the same sizes: a zoo without its own timing takes the closed zoo's
        timing_path = next(
            (f / "refine" / "timing.json" for f in (folder, zoo_dir) if (f / "refine" / "timing.json").exists()), None
        )
        timing = json.loads(timing_path.read_text())["seconds"] if timing_path else {}
        chosen = json.loads((folder / "refine" / "chosen.json").read_text())
        timed_on = (
            "" if timing_path is None or timing_path.parent.parent == folder else f"; s/mixture measured on {zoo_dir}"
        )
        lines.append(
            f"\n**{name}** (refinement lr {chosen['refine_lr']:g}, label {chosen['refine_label']}, "
            f"chosen at {chosen['select_steps']} steps on {chosen['select_mixtures']} training mixtures per N"
            f"{' of ' + chosen['chosen_on'] if chosen.get('chosen_on') else ''}{timed_on})\n"
        )
        for ax, n_src in zip(axes[0], args.n_src):
            table = rows(args, folder, n_src, timing)
            lines += [
                f"\nRT60 0.3 s, N = {n_src}\n",
                "| method | mixtures | SI-SDRi (dB) | minus ilrma, paired (better) | minus fastmvae2, paired (better) "
                "| J-increase fraction | s/mixture |",
                "|---|---|---|---|---|---|---|",
            ]
            for r in table:
                seconds = f"{r['seconds']:.2f}" if r["seconds"] is not None else ""
                jinc = f"{r['jinc']:.3f}" if r["jinc"] is not None else ""
                lines.append(
                    f"| {r['method']} | {r['n']} | {r['si_sdri']:.2f} | {fmt_paired(r['vs_ilrma'])} | "
                    f"{fmt_paired(r['vs_fast'])} | {jinc} | {seconds} |"
                )
            points = [r for r in table if r["seconds"] is not None and r["vs_ilrma"] or r["method"] == "ilrma"]
            points = [r for r in points if r["seconds"] is not None]
            marker = "o" if name == "speaker-closed" else "s"
            for r in points:
                y = r["vs_ilrma"]["mean"] if r["vs_ilrma"] else 0.0
                ax.scatter(r["seconds"], y, marker=marker, color="C0" if name == "speaker-closed" else "C1")
                ax.annotate(r["method"], (r["seconds"], y), fontsize=6, xytext=(3, 2), textcoords="offset points")
            ax.set_title(f"N = {n_src}, RT60 0.3 s (o closed, s open)", fontsize=9)
    timing_file = zoo_dir / "refine" / "timing.json"
    threads = json.loads(timing_file.read_text()).get("threads", "?") if timing_file.exists() else "?"
    for ax in axes[0]:
        ax.set_xscale("log")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel(f"seconds per 10-s mixture ({threads} torch thread(s))")
        ax.set_ylabel("SI-SDRi minus ILRMA, paired mean (dB)")
    fig.tight_layout()
    fig.savefig(results / "frontier.png", dpi=120)
    plt.close(fig)
    text = "\n".join(lines).lstrip() + "\n"
    (results / "table.md").write_text(text)
    print(text)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    zoo_dir = Path(args.zoo)
    for stage in STAGES:
        if stage in args.stages:
            start = time.time()
            globals()[f"stage_{stage}"](args, zoo_dir)
            log.info("[%s] done (%.1f s)", stage, time.time() - start)


if __name__ == "__main__":
    main()
