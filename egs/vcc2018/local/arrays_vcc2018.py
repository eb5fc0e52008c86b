"""More microphones than sources on real speech: M = N against M = 2N by PCA and by OverIVA.

Mixtures: VCC2018 test sentences 30021-30025 (every speaker), the package's room protocol
(:mod:`asteroid_mvae.data.rooms`: 8 x 6 x 3 m shoebox, sources on a 2.5 m circle around a circular
array of radius 0.1 m), RT60 ``--rt60``, N sources, a uniform circular array of M = 2N microphones.
The M = N array is every other microphone of it (again a uniform circle of radius 0.1 m, in the
same room and with the same sources), so every comparison is paired. Separators: AuxIVA and
ILRMA at M = N, at M = 2N reduced to N by PCA (``mics="pca"``) and at M = 2N with OverIVA
(``mics="all"``, the default), and the oracles ``oracle_ip`` (the engine with the true variances;
OverIVA at M = 2N) and ``oracle_ls`` (the best time-invariant linear demixer) at each M.
``+mwf``: the separators' outputs (M = N and M = 2N) post-filtered by the time-invariant multichannel Wiener
filters their soft masks imply on all M microphones (:mod:`asteroid_mvae.separation.postfilter`).
AuxIVA runs with its default Laplace contrast and with the time-varying Gaussian one
(``auxiva_gauss``, ``contrast="gauss"``). SI-SDR improvements at microphone 0 against the
reverberant images (the separators' target)
and against the direct path plus ``--early`` s of early reflections.

Writes ``per_mixture.csv`` and ``table.md`` (paired differences, s/mixture with ``--threads``
torch threads) to ``--out``. Run from the repository root::

    .venv/bin/python egs/vcc2018/local/arrays_vcc2018.py --corpus ../shared/data/vcc2018 \\
        --n-mixtures 24 --out egs/vcc2018/results/arrays
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dereverb_vcc2018 import (  # noqa: E402  (same mixtures' recipe, same options)
    DEEP,
    add_study_arguments,
    checked,
    deep_separator,
    make_mixture,
    paired,
    test_corpus,
    write_table,
)

log = logging.getLogger("arrays_vcc2018")
SEPARATORS = ("auxiva", "auxiva_gauss", "ilrma")
FORMS = ("m_n", "pca", "overiva")  #: M = N; M = 2N by PCA; M = 2N by OverIVA


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="../shared/data/vcc2018", help="VCC2018 folder (speaker/utterance.flac)")
    parser.add_argument("--out", default="egs/vcc2018/results/arrays")
    parser.add_argument("--n-mixtures", type=int, default=8)
    parser.add_argument("--n-src", type=int, nargs="+", default=[2], help="one table section per number of sources")
    parser.add_argument("--rt60", type=float, default=0.3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--early", type=float, default=0.05, help="seconds of early reflections in the direct reference"
    )
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument("--forms", nargs="+", default=list(FORMS), choices=list(FORMS), help="microphone uses")
    add_study_arguments(parser, SEPARATORS)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return checked(parser, parser.parse_args(argv))


def blind(name: str, n_src: int, args):
    """``form -> separator`` constructor of blind separator ``name`` (``mics`` and ``postfilter`` left open)."""
    from asteroid_mvae.models import ILRMA, AuxIVA

    if name in DEEP:
        return lambda **kw: deep_separator(name, args, n_src=n_src, **kw)
    cls, extra = {"auxiva": (AuxIVA, {}), "auxiva_gauss": (AuxIVA, {"contrast": "gauss"}), "ilrma": (ILRMA, {})}[name]
    return lambda **kw: cls(n_src=n_src, n_iter=args.n_iter, **extra, **kw)


def separators(n_src: int, args) -> dict:
    """``(name, microphones) -> separator``: ``"n"`` (every other microphone) or ``"2n"`` (all)."""
    from asteroid_mvae.models.oracle import OracleIP, OracleLS

    n_iter, models = args.n_iter, {}
    for name in args.separators:
        make = blind(name, n_src, args)
        if "m_n" in args.forms:
            models[(f"{name}", "n")] = make(postfilter="none")
        if "pca" in args.forms:
            models[(f"{name}_pca", "2n")] = make(mics="pca", postfilter="none")
        if "overiva" in args.forms:
            models[(f"{name}_overiva", "2n")] = make(mics="all", postfilter="none")
    for mics in ("n", "2n"):
        models[(f"oracle_ip@{mics.upper()}", mics)] = OracleIP(n_src=n_src, n_iter=n_iter)
        models[(f"oracle_ls@{mics.upper()}", mics)] = OracleLS(n_src=n_src)
    return models


def section(df, n_src: int, names=SEPARATORS, other=None) -> list:
    """Markdown lines of one N: means, then paired differences (``other``: rows of another run on the
    same mixtures, whose ILRMA rows join the comparisons)."""
    import pandas as pd

    df = df[df.n_src == n_src]
    means = df.groupby("method").mean(numeric_only=True)
    lines = [
        f"### N = {n_src}, M = {n_src} and {2 * n_src} ({df['mixture'].nunique()} mixtures)",
        "",
        "| method | M | SI-SDRi image (dB) | SI-SDRi direct (dB) | s/mixture |",
        "|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(df["method"]):
        row = means.loc[method]
        lines.append(
            f"| {method} | {int(row['n_mics'])} | {row['si_sdri_image']:.2f} | {row['si_sdri_direct']:.2f} | "
            f"{row['seconds']:.2f} |"
        )
    lines += [
        "",
        "Paired differences (SI-SDRi against the images; mean ± standard error, mixtures where the first wins):",
        "",
        "| comparison | image (dB) | better | direct (dB) |",
        "|---|---|---|---|",
    ]
    comparisons = (
        [(f"{s}_overiva", s) for s in names]
        + [(f"{s}_pca", s) for s in names]
        + [(f"{s}_overiva", f"{s}_pca") for s in names]
        + [(f"{s}_{form}+mwf", s) for s in names for form in ("pca", "overiva")]
        + [(f"{s}_{form}+mwf", f"{s}_{form}") for s in names for form in ("pca", "overiva")]
        + [(f"{s}+mwf", s) for s in names]
        + [(f"{s}_{form}+mwf", f"{s}+mwf") for s in names for form in ("pca", "overiva")]
        + [("oracle_ip@2N", "oracle_ip@N"), ("oracle_ls@2N", "oracle_ls@N")]
    )
    if other is not None:  # the same mixtures' ILRMA (another run): each form of these separators against it
        forms = ("", "+mwf", "_pca", "_pca+mwf", "_overiva", "_overiva+mwf")
        comparisons += [(f"{s}{f}", f"ilrma{f}") for s in names if s != "ilrma" for f in forms]
        df = pd.concat([df, other[(other.n_src == n_src) & other.method.str.startswith("ilrma")]])
        means = df.groupby("method").mean(numeric_only=True)
    for a, b in comparisons:
        if a in means.index and b in means.index:
            i, d = paired(df, a, b, "si_sdri_image"), paired(df, a, b, "si_sdri_direct")
            lines.append(
                f"| {a} - {b} | {i['mean']:+.2f} ± {i['se']:.2f} | {i['wins']}/{i['n']} | "
                f"{d['mean']:+.2f} ± {d['se']:.2f} |"
            )
    return lines


def table(df, args, load: str, other=None) -> str:
    lines = [
        f"More microphones than sources on VCC2018 test sentences (30021-30025), RT60 {args.rt60} s, "
        f"{args.seconds:g}-s mixtures, uniform circular arrays of radius 0.1 m (M = N: every other microphone "
        f"of the M = 2N array), STFT 2048 / 1024, {args.n_iter} iterations, {args.threads} torch thread(s); "
        f"{load}.",
        "",
        "Names: ``auxiva``: Laplace contrast, ``auxiva_gauss``: time-varying Gaussian contrast; plain: M = N; "
        '``_pca``: M = 2N reduced to N by PCA (``mics="pca"``); ``_overiva``: M = 2N '
        'with OverIVA (``mics="all"``, the default); ``+mwf``: followed by the multichannel Wiener post-filter '
        "on all M microphones; oracles at each M (``oracle_ip`` at 2N runs OverIVA "
        "with the true variances)."
        + (
            f" ``mvae``: MVAE with the CVAE package ``{Path(args.cvae).name}`` (ILRMA for {args.n_iter // 2} "
            f"iterations, then {args.n_iter - args.n_iter // 2} MVAE iterations of {args.mvae_steps} Adam steps)."
            if "mvae" in args.separators
            else ""
        )
        + (
            f" ``fastmvae2``: FastMVAE2 with the ChimeraACVAE package ``{Path(args.chimera).name}`` "
            f"({args.n_iter} iterations)."
            if "fastmvae2" in args.separators
            else ""
        ),
        "",
    ]
    for n_src in sorted(df.n_src.unique()):
        lines += section(df, int(n_src), args.separators, other) + [""]
    lines += [
        "SI-SDRi image: against each source's reverberant image at microphone 0; direct: against its direct "
        f"path plus the first {int(args.early * 1000)} ms of its impulse response there."
    ]
    return "\n".join(lines) + "\n"


def run_mixture(corpus, index: int, n_src: int, models: dict, args) -> list:
    """Rows of every separator on mixture ``index`` with ``n_src`` sources."""
    import torch

    from asteroid_mvae.evaluation.metrics import si_sdr_improvement

    options = argparse.Namespace(**{**vars(args), "n_src": n_src, "n_mics": 2 * n_src})
    mixture, direct, image, speakers = make_mixture(corpus, index, options)
    rows = []
    for (name, mics), model in models.items():
        wav = torch.from_numpy(mixture if mics == "2n" else mixture[::2])[None]
        start = time.perf_counter()
        if getattr(model, "needs_references", False):
            estimates = model.forward_wav(wav, torch.from_numpy(image.astype(np.float32))[None])
        else:
            estimates = model(wav)
        seconds = time.perf_counter() - start
        estimates = estimates[0].double().numpy()
        rows.append(
            dict(
                n_src=n_src,
                mixture=index,
                speakers="+".join(speakers),
                method=name,
                n_mics=wav.shape[1],
                seconds=seconds,
                si_sdri_image=float(si_sdr_improvement(mixture[0], image, estimates).mean()),
                si_sdri_direct=float(si_sdr_improvement(mixture[0], direct, estimates).mean()),
            )
        )
        log.info(
            "N=%d mixture %d %s (M=%d): %.2f dB image, %.2f dB direct, %.2f s",
            n_src,
            index,
            name,
            wav.shape[1],
            rows[-1]["si_sdri_image"],
            rows[-1]["si_sdri_direct"],
            seconds,
        )
        if not getattr(
            model, "needs_references", False
        ):  # M = N too: what the post-filter gives without more microphones
            rows.append(
                postfiltered(rows[-1], wav, torch.from_numpy(estimates)[None], model.stft_config, image, direct)
            )
    return rows


def postfiltered(row: dict, wav, estimates, stft_config, image, direct) -> dict:
    """``row``'s separator followed by the multichannel Wiener post-filter on all microphones."""
    from asteroid_mvae.evaluation.metrics import si_sdr_improvement
    from asteroid_mvae.separation import istft, stft
    from asteroid_mvae.separation.postfilter import multichannel_wiener

    start = time.perf_counter()
    X = stft(wav.double(), stft_config)
    filtered = istft(multichannel_wiener(X, stft(estimates.double(), stft_config)), wav.shape[-1], stft_config)
    filtered = filtered[0].numpy()
    seconds = row["seconds"] + time.perf_counter() - start
    mixture = wav[0, 0].double().numpy()
    return {
        **row,
        "method": row["method"] + "+mwf",
        "seconds": seconds,
        "si_sdri_image": float(si_sdr_improvement(mixture, image, filtered).mean()),
        "si_sdri_direct": float(si_sdr_improvement(mixture, direct, filtered).mean()),
    }


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    other = pd.read_csv(Path(args.against) / "per_mixture.csv") if args.against else None
    if args.report_only:
        df = pd.read_csv(out / "per_mixture.csv")
        first = (out / "table.md").read_text().splitlines()[0] if (out / "table.md").exists() else ""
        load = first.split("; ")[-1].rstrip(".")  # the run's load, kept
        write_table(out, table(df, args, load, other))
        return
    corpus = test_corpus(args.corpus)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n_src in args.n_src:
        models = separators(n_src, args)
        warm = torch.randn(1, 2 * n_src, 32000, generator=torch.Generator().manual_seed(0))
        for (_, mics), model in models.items():  # compiled kernels load (or compile) on first use: not timed
            w = warm if mics == "2n" else warm[:, ::2]
            model.forward_wav(w, w[:, :n_src]) if getattr(model, "needs_references", False) else model(w)
        postfiltered(
            dict(method="warm", seconds=0.0),
            warm,
            warm[:, :n_src],
            next(m for m in models.values() if hasattr(m, "stft_config")).stft_config,
            warm[0, :n_src].double().numpy(),
            warm[0, :n_src].double().numpy(),
        )
        for index in range(args.n_mixtures):
            rows += run_mixture(corpus, index, n_src, models, args)
            frame = pd.DataFrame(rows)
            tmp = out / ".per_mixture.csv.tmp"
            frame.to_csv(tmp, index=False)
            os.replace(tmp, out / "per_mixture.csv")  # after every mixture: a killed run keeps its rows
    df = pd.DataFrame(rows)
    load = "load average %.1f / %.1f / %.1f at the end, %d cores" % (*os.getloadavg(), os.cpu_count())
    write_table(out, table(df, args, load, other))


if __name__ == "__main__":
    main()
