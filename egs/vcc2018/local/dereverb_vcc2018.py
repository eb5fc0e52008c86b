"""Joint dereverberation on real speech: ILRMA vs ILRMA-T, AuxIVA vs AuxIVA-T.

Mixtures: VCC2018 test sentences 30021-30025 (every speaker), the package's room protocol
(:mod:`asteroid_mvae.data.rooms`: 8 x 6 x 3 m shoebox, sources on a 2.5 m circle around a circular
array of radius 0.1 m) at RT60 0.6 s, N sources, M microphones. Reference: each source's
direct path plus early reflections at microphone 0 (its impulse response cut ``--early`` s after
the direct-path peak), the target of dereverberation; SI-SDR improvements over the mixture
are also reported against the reverberant images (what the plain separators aim at).

Writes ``per_mixture.csv`` and ``table.md`` (paired differences, s/mixture with one torch
thread) to ``--out``. Run from the repository root::

    .venv/bin/python egs/vcc2018/local/dereverb_vcc2018.py --corpus ../shared/data/vcc2018 \\
        --n-mixtures 8 --out egs/vcc2018/results/dereverb
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("dereverb_vcc2018")
TEST_SENTENCES = range(30021, 30026)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="../shared/data/vcc2018", help="VCC2018 folder (speaker/utterance.flac)")
    parser.add_argument("--out", default="egs/vcc2018/results/dereverb")
    parser.add_argument("--n-mixtures", type=int, default=8)
    parser.add_argument("--n-src", type=int, default=2)
    parser.add_argument("--n-mics", type=int, default=None, help="default: as many as sources")
    parser.add_argument("--rt60", type=float, default=0.6)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--early", type=float, default=0.05, help="seconds of early reflections in the reference")
    parser.add_argument("--taps", type=int, default=3)
    parser.add_argument("--delay", type=int, default=1)
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument(
        "--updates",
        nargs="+",
        default=["ip1", "ip2"],
        choices=["ip1", "ip2", "iss"],
        help="spatial updates to run every separator with (names other than ip1's get @update)",
    )
    add_study_arguments(parser, ["ilrma", "auxiva"])
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return checked(parser, parser.parse_args(argv))


#: deep separators the studies offer: name -> (option naming its network package, network)
DEEP = {"mvae": ("cvae", "CVAE"), "fastmvae2": ("chimera", "ChimeraACVAE")}


def add_study_arguments(parser, separators) -> None:
    """The options this study shares with ``arrays_vcc2018.py``: which blind separators (``mvae``
    with a CVAE package, ``fastmvae2`` with a ChimeraACVAE one), pairing with another run, rewriting
    the table."""
    parser.add_argument(
        "--separators",
        nargs="+",
        default=list(separators),
        choices=list(separators) + list(DEEP),
        help="blind ones",
    )
    parser.add_argument("--cvae", default=None, help="CVAE network package of mvae (asteroid-mvae train)")
    parser.add_argument("--chimera", default=None, help="ChimeraACVAE network package of fastmvae2")
    parser.add_argument(
        "--mvae-steps", type=int, default=5, help="mvae: Adam steps per iteration (after 30 ILRMA iterations)"
    )
    parser.add_argument(
        "--against",
        default=None,
        help="results folder of another run on the same mixtures (same seed and protocol): its ILRMA rows join "
        "the table, each separator paired with ILRMA of the same form",
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite table.md from --out's per_mixture.csv")


def checked(parser, args):
    for name, (option, network) in DEEP.items():
        if name in args.separators and not getattr(args, option):
            parser.error(f"--separators {name} needs --{option} (a {network} network package)")
    return args


def fastmvae2(args, **kwargs):
    """FastMVAE2 with ``args.chimera`` for ``args.n_iter`` iterations (the paper's: from the identity)."""
    from asteroid_mvae.models import FastMVAE2

    return FastMVAE2.from_network_package(args.chimera, **{"n_iter": args.n_iter, **kwargs})


def deep_separator(name: str, args, **kwargs):
    """The deep separator ``name`` of :data:`DEEP` with its network package from ``args``."""
    return {"mvae": mvae, "fastmvae2": fastmvae2}[name](args, **kwargs)


def mvae(args, **kwargs):
    """MVAE with ``args.cvae``: ILRMA (ILRMA-T with taps) for half of ``args.n_iter``, then the other half
    of MVAE iterations of ``args.mvae_steps`` Adam steps (the MVAE paper's start)."""
    from asteroid_mvae.models import MVAE

    half = args.n_iter // 2
    kwargs = {**kwargs, "n_iter": args.n_iter - half}
    return MVAE.from_network_package(args.cvae, init_ilrma=half, n_steps=args.mvae_steps, **kwargs)


def make_mixture(corpus, index: int, args):
    """``(mixture [mics, time], direct [src, time], images_ref [src, time], speakers)`` of item ``index``."""
    from asteroid_mvae.data import RoomConfig
    from asteroid_mvae.data.rooms import (
        _level,
        direct_path_images,
        item_seed,
        reverberant_images,
        room_impulse_responses,
        sample_geometry,
        speaker_signal,
    )

    config = RoomConfig(duration=args.seconds, rt60=args.rt60, n_mics=args.n_mics)
    rng = np.random.default_rng(item_seed(args.seed, index))
    n_samples = int(round(config.duration * config.sample_rate))
    speakers = [corpus.speakers[i] for i in rng.choice(len(corpus.speakers), args.n_src, replace=False)]
    dry = np.stack([_level(speaker_signal(corpus, spk, n_samples, rng).audio) for spk in speakers])
    geometry = sample_geometry(config, args.n_src, rng)
    rirs, _ = room_impulse_responses(config, geometry, args.rt60)
    images = reverberant_images(dry, rirs)
    mixture = images.sum(0)
    direct = direct_path_images(dry, rirs[:1], config.sample_rate, args.early)[:, 0]
    scale = config.peak / np.abs(mixture).max()
    return (scale * mixture).astype(np.float32), scale * direct, scale * images[:, 0], speakers


def separators(args):
    """name -> separator; the oracles take the direct-path references: ``oracle_ls`` (the best
    time-invariant linear demixer for that target, per frequency of the same STFT) and ``oracle_ip``
    / ``oracle_ip_t`` (the IP updates, without and with the prediction filter, with the true
    direct-path powers as the variances: the ceiling of any source model in each form)."""
    from asteroid_mvae.models import ILRMA, AuxIVA
    from asteroid_mvae.models.oracle import OracleIP, OracleLS

    def make(name, **kw):
        return deep_separator(name, args, **kw) if name in DEEP else {"ilrma": ILRMA, "auxiva": AuxIVA}[name](**kw)

    models = {}
    prediction = dict(taps=args.taps, delay=args.delay)
    for update in args.updates:
        common = dict(n_src=args.n_src, n_iter=args.n_iter, update=update)
        suffix = "" if update == "ip1" else f"@{update}"
        for name in args.separators:
            models[f"{name}{suffix}"] = make(name, **common)
            models[f"{name}_t{suffix}"] = make(name, **common, **prediction)
    # the filter's ceiling: the IP updates with the true direct-path powers, without and with the prediction
    models["oracle_ip"] = OracleIP(n_src=args.n_src, n_iter=args.n_iter)
    models["oracle_ip_t"] = OracleIP(n_src=args.n_src, n_iter=args.n_iter, **prediction)
    models["oracle_ls"] = OracleLS(n_src=args.n_src)
    return models


def paired(df, a: str, b: str, column: str) -> dict:
    """``{"n", "mean", "se", "wins"}`` of ``column(a) - column(b)`` over the mixtures both have
    (:func:`~asteroid_mvae.evaluation.report.paired_differences` on these studies' rows)."""
    from asteroid_mvae.evaluation.report import paired_differences

    return paired_differences(df.rename(columns={"mixture": "mixture_id"}), a, b, column)


def pairs(methods):
    """(dereverberating, plain) name pairs among ``methods``."""
    return [(m, m.replace("_t", "", 1)) for m in methods if "_t" in m and m.replace("_t", "", 1) in methods]


def table(df, args, load: str = "", other=None) -> str:
    import pandas as pd

    lines = [
        f"Joint dereverberation on VCC2018 test sentences (30021-30025), RT60 {args.rt60} s, N = {args.n_src}, "
        f"M = {args.n_mics or args.n_src}, {args.seconds:g}-s mixtures, {df['mixture'].nunique()} mixtures; "
        f"prediction taps L = {args.taps}, delay D = {args.delay} (STFT 2048 / 1024), {args.n_iter} iterations, "
        f"{args.threads} torch thread(s); {load}.",
        "",
        "Names: ``_t`` with the prediction filter; ``@ip2`` with the pairwise IP update (N = 2), ``@iss`` with "
        "iterative source steering (T-ISS with the filter), instead of IP1."
        + (
            f" ``mvae``: MVAE with the CVAE package ``{Path(args.cvae).name}`` (ILRMA, or ILRMA-T for ``mvae_t``, "
            f"for {args.n_iter // 2} iterations, then {args.n_iter - args.n_iter // 2} MVAE iterations of "
            f"{args.mvae_steps} Adam steps)."
            if "mvae" in args.separators
            else ""
        )
        + (
            f" ``fastmvae2``: FastMVAE2 with the ChimeraACVAE package ``{Path(args.chimera).name}`` "
            f"({args.n_iter} iterations; ``fastmvae2_t``: FastMVAE2-T)."
            if "fastmvae2" in args.separators
            else ""
        ),
        "",
        "| method | SI-SDRi direct (dB) | minus plain, paired (dB) | better | SI-SDRi image (dB) | s/mixture | "
        "time / plain |",
        "|---|---|---|---|---|---|---|",
    ]
    means = df.groupby("method").mean(numeric_only=True)
    for method, plain in pairs(list(dict.fromkeys(df["method"]))):
        for name in (plain, method):
            row = means.loc[name]
            paired_text, wins, ratio = "", "", ""
            if name == method:
                d = paired(df, method, plain, "si_sdri_direct")
                paired_text, wins = f"{d['mean']:+.2f} ± {d['se']:.2f}", f"{d['wins']}/{d['n']}"
                ratio = f"{row['seconds'] / means.loc[plain, 'seconds']:.1f}x"
            lines.append(
                f"| {name} | {row['si_sdri_direct']:.2f} | {paired_text} | {wins} | {row['si_sdri_image']:.2f} | "
                f"{row['seconds']:.2f} | {ratio} |"
            )
    if "oracle_ls" in means.index:
        row = means.loc["oracle_ls"]
        lines.append(
            f"| oracle_ls (direct-path target) | {row['si_sdri_direct']:.2f} |  |  | {row['si_sdri_image']:.2f} | "
            f"{row['seconds']:.2f} |  |"
        )
    if other is not None:  # against the other run's ILRMA of the same form, on the same mixtures
        lines += ["", "| method minus ILRMA of the same form (other run) | direct, paired (dB) | better | image (dB) |"]
        lines += ["|---|---|---|---|"]
        both = pd.concat([df, other[other.method.str.startswith("ilrma")]])
        for method in dict.fromkeys(df["method"]):
            ilrma = "ilrma" + method[len(method.split("@")[0].removesuffix("_t")) :]  # mvae_t@ip2 -> ilrma_t@ip2
            if method.startswith(("ilrma", "oracle")) or ilrma not in set(other.method):
                continue
            d, i = (paired(both, method, ilrma, c) for c in ("si_sdri_direct", "si_sdri_image"))
            lines.append(
                f"| {method} - {ilrma} | {d['mean']:+.2f} ± {d['se']:.2f} | {d['wins']}/{d['n']} | "
                f"{i['mean']:+.2f} ± {i['se']:.2f} |"
            )
    lines += [
        "",
        "SI-SDRi direct: against each source's direct path plus the first "
        f"{int(args.early * 1000)} ms of its impulse response at microphone 0; image: against its whole "
        "reverberant image there. Paired: mean over mixtures of the difference to the plain version ± its "
        "standard error; better: mixtures where the dereverberating version wins.",
    ]
    return "\n".join(lines) + "\n"


def test_corpus(path):
    """The VCC2018 folder corpus at ``path`` restricted to :data:`TEST_SENTENCES` (exits with one
    line when it cannot be read)."""
    from asteroid_mvae.data import DataError, FolderCorpus

    try:
        corpus = FolderCorpus(path)
        return corpus.subset(
            utterances={spk: [u for u in corpus.utterances(spk) if int(u) in TEST_SENTENCES] for spk in corpus.speakers}
        )
    except (DataError, OSError, ValueError) as err:
        sys.exit(f"error: corpus {path}: {err}")


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    import pandas as pd
    import torch

    from asteroid_mvae.evaluation.metrics import si_sdr_improvement

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    other = pd.read_csv(Path(args.against) / "per_mixture.csv") if args.against else None
    if args.report_only:
        first = (out / "table.md").read_text().splitlines()[0] if (out / "table.md").exists() else ""
        write_table(out, table(pd.read_csv(out / "per_mixture.csv"), args, first.split("; ")[-1].rstrip("."), other))
        return
    corpus = test_corpus(args.corpus)
    out.mkdir(parents=True, exist_ok=True)
    models, rows = separators(args), []
    warm = torch.from_numpy(make_mixture(corpus, args.n_mixtures, args)[0][:, :32000])[None]
    for model in models.values():  # compiled kernels load (or compile) on first use: not timed
        model.forward_wav(warm, warm[:, : args.n_src]) if getattr(model, "needs_references", False) else model(warm)
    for index in range(args.n_mixtures):
        mixture, direct, image, speakers = make_mixture(corpus, index, args)
        for name, model in models.items():
            start = time.perf_counter()
            wav = torch.from_numpy(mixture)[None]
            if getattr(model, "needs_references", False):
                estimates = model.forward_wav(wav, torch.from_numpy(direct.astype(np.float32))[None])
            else:
                estimates = model(wav)
            estimates = estimates[0].double().numpy()
            seconds = time.perf_counter() - start
            rows.append(
                dict(
                    mixture=index,
                    speakers="+".join(speakers),
                    method=name,
                    seconds=seconds,
                    si_sdri_direct=float(si_sdr_improvement(mixture[0], direct, estimates).mean()),
                    si_sdri_image=float(si_sdr_improvement(mixture[0], image, estimates).mean()),
                )
            )
            log.info(
                "mixture %d %s: %.2f dB direct, %.2f dB image, %.2f s",
                index,
                name,
                rows[-1]["si_sdri_direct"],
                rows[-1]["si_sdri_image"],
                seconds,
            )
    df = pd.DataFrame(rows)
    df.to_csv(out / ".per_mixture.csv.tmp", index=False)
    os.replace(out / ".per_mixture.csv.tmp", out / "per_mixture.csv")

    load = "load average %.1f / %.1f / %.1f at the end, %d cores" % (*os.getloadavg(), os.cpu_count())
    write_table(out, table(df, args, load, other))


def write_table(out: Path, text: str) -> None:
    """``out/table.md`` <- ``text`` (through a temporary name), and log it."""
    tmp = out / ".table.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / "table.md")
    log.info("\n%s", text)


if __name__ == "__main__":
    main()
