"""Which blind statistic MVAE's fallback should use: candidates on training-sentence mixtures only.

MVAE's ``fallback="envelope"`` (``asteroid_mvae/separation/fallback.py``) keeps, per mixture, the
outputs of its ILRMA start instead of the deep iterations' where a blind statistic says the start
is better separated. This study is how that statistic was chosen. It separates the first
``--mixtures`` training-sentence mixtures per N of a zoo folder (``mix_train_<N>src``, never the test
mixtures) with MVAE's last 10 iterations (``--cvae-package``; 5 Adam steps of 0.02 after 50 of ILRMA,
no fallback) and with ILRMA (60 iterations), keeps the start's outputs (iteration 0 of the deep
iterations) and the final ones, and scores every candidate statistic (lower = better separated) as
a per-mixture choice between them:

- ``logspec`` / ``logspec_centred``: correlation of whole log spectrograms, raw or each bin's mean removed;
- ``freq_env`` / ``freq_env_log``: correlation of per-frequency envelopes, linear or log;
- ``broadband_env`` / ``broadband_env_log``: correlation of the broadband envelope, linear or log
  (``broadband_env_log`` is :func:`~asteroid_mvae.separation.fallback.envelope_correlation`);
- ``j_rank1`` / ``j_nmf2``: the objective J of each demixing matrix with one common source model
  refitted to its outputs (rank-1 and 2-basis IS-NMF).

Separations are cached in ``<zoo>/fallback_choice.json`` (resumable); the table goes to ``--table``::

    python egs/vcc2018/local/zoo_fallback_choice.py --zoo exp/zoo_authors_closed \\
        --cvae-package exp/zoo_authors_closed/cvae/network_step4386.pt \\
        --table egs/vcc2018/results/zoo_fallback/choice_closed.md
"""

import logging
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_study  # noqa: E402  (this folder's shared helpers)

log = logging.getLogger("zoo_fallback_choice")
SEPARATIONS = ("ilrma", "start", "mvae")  # ILRMA 60; MVAE's start (ILRMA 50) and its final outputs


def parse_args(argv=None):
    parser = train_study.parser(__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="markdown file of the table")
    return parser.parse_args(argv)


def pairwise_mean(a: torch.Tensor) -> float:
    """Mean correlation over pairs of rows of ``a [N, D]`` (or of ``[K, N, D]``, averaged over K)."""
    a = a - a.mean(-1, keepdim=True)
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    c = a @ a.transpose(-1, -2)
    n = c.shape[-1]
    off = c.sum((-1, -2)) - torch.diagonal(c, dim1=-2, dim2=-1).sum(-1)
    return float(off.mean() / (n * (n - 1)))


def correlations(S: torch.Tensor) -> dict:
    """Correlation statistics of outputs ``S [1, N, F, T]`` complex (DC dropped; lower = more separated)."""
    from asteroid_mvae.separation.fallback import envelope_correlation

    P = S[0, :, 1:].abs().pow(2).to(torch.float64)  # [N, F, T]
    log_p = torch.log(P.clamp_min(1e-12 * float(P.mean())))
    return {
        "logspec": pairwise_mean(log_p.flatten(1)),
        "logspec_centred": pairwise_mean((log_p - log_p.mean(-1, keepdim=True)).flatten(1)),
        "freq_env": pairwise_mean(P.transpose(0, 1)),  # [F, N, T]: per frequency, over frames
        "freq_env_log": pairwise_mean(log_p.transpose(0, 1)),
        "broadband_env": pairwise_mean(P.sum(1)),
        "broadband_env_log": float(envelope_correlation(S)[0]),
    }


def refitted_objective(W: torch.Tensor, X: torch.Tensor, model: str, iters: int = 50) -> float:
    """J of demixing matrices ``W [1, F, N, M]`` on the mixture ``X [1, M, F, T]``, with a source
    model (``"rank1"``: r = b_nf g_nt, or ``"nmf2"``: 2-basis NMF) refitted to the outputs' powers."""
    from asteroid_mvae.separation import NMF, spatial

    W, X = W.to(torch.complex128), X.to(torch.complex128)
    p = spatial.source_power(W @ X.transpose(1, 2)).clamp_min(1e-20)  # [1, N, F, T]
    if model == "rank1":
        g = p.mean(2, keepdim=True)
        for _ in range(iters):
            b = (p / g).mean(3, keepdim=True)
            g = (p / b).mean(2, keepdim=True)
        r = b * g
    else:
        nmf = NMF(n_basis=2, seed=0)
        nmf.reset(p)
        for _ in range(iters):
            r = nmf.update(p)
    r = r.clamp_min(1e-20)
    T = p.shape[-1]
    return float(-2 * T * spatial.log_abs_det(W).sum() + (torch.log(r) + p / r).sum())


def score(mix: torch.Tensor, refs: torch.Tensor, S: torch.Tensor, config, X: torch.Tensor) -> dict:
    """SI-SDRi (dB, mean over sources) of the outputs ``S [1, N, F, T]``, plain and post-filtered."""
    from asteroid_mvae.separation.postfilter import multichannel_wiener

    return {
        "si_sdri": train_study.si_sdri(mix, refs, S, config),
        "si_sdri_mwf": train_study.si_sdri(mix, refs, multichannel_wiener(X, S.to(X.dtype)), config),
    }


def separate(sep, mix: torch.Tensor) -> dict:
    """``{"start": (S, W), "final": (S, W)}`` of one deep separation (outputs projected back)."""
    states = {}

    def keep_start(state):
        if state.iteration == 0:
            states["start"] = (state.estimates(sep.ref_mic), state.demix)

    result = sep.separate_with_history(mix[None].float(), callback=keep_start).result
    states["final"] = (result.estimates, result.demix)
    return states


def run(args, cache: dict, cache_path: Path) -> dict:
    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.models import ILRMA, MVAE
    from asteroid_mvae.separation.stft import stft

    for n_src in args.n_src:
        dataset = MixtureDataset(Path(args.zoo) / f"mix_train_{n_src}src" / "metadata.csv")
        ilrma = ILRMA(n_src=n_src, n_iter=60, postfilter="none")
        mvae = MVAE.from_network_package(
            args.cvae_package, n_src=n_src, n_iter=10, init_ilrma=50, n_steps=5, lr=0.02, postfilter="none"
        )
        for i in range(min(args.mixtures, len(dataset))):
            key = f"n{n_src}/{i}"
            if key in cache:
                continue
            mix, refs = dataset[i]
            X = stft(mix[None].double(), mvae.stft_config)
            row = {}
            out = ilrma.separate_with_history(mix[None].float()).result
            row["ilrma"] = score(mix, refs, out.estimates, ilrma.stft_config, X)
            for name, (S, W) in zip(("start", "mvae"), separate(mvae, mix).values()):
                row[name] = score(mix, refs, S, mvae.stft_config, X)
                row[name].update(correlations(S))
                row[name].update({f"j_{m}": refitted_objective(W, X, m) for m in ("rank1", "nmf2")})
            cache[key] = row
            log.info("%s: %s", key, {k: round(v["si_sdri"], 2) for k, v in row.items()})
            train_study.save_cache(cache, cache_path)
    return cache


def table(cache: dict, n_srcs, n_mix: int, cvae: str) -> str:
    """Markdown: each statistic's per-mixture choice between the start and MVAE, paired against ILRMA."""
    header = (
        f"Training-sentence mixtures ({n_mix} per N), CVAE `{Path(cvae).name}`; each statistic keeps the start "
        "where its value is lower than MVAE's. Paired mean ± standard error (dB); `right`: the choice "
        "with the higher SI-SDRi.\n\n"
        "| statistic | N | start kept | right | minus ILRMA | minus MVAE | + MWF, minus ILRMA |\n"
        "|---|---|---|---|---|---|---|"
    )
    lines = [header]
    stats = [k for k in cache[f"n{n_srcs[0]}/0"]["mvae"] if not k.startswith("si_sdri")]

    def se(d):
        return d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")

    for stat in ["never (MVAE)", "always (start)", "oracle", *stats]:
        for n_src in n_srcs:
            rows = [cache[f"n{n_src}/{i}"] for i in range(n_mix)]

            def get(sep, what):
                return np.array([r[sep][what] for r in rows])

            better = get("start", "si_sdri") > get("mvae", "si_sdri")
            keep = {
                "never (MVAE)": np.zeros(n_mix, bool),
                "always (start)": np.ones(n_mix, bool),
                "oracle": better,
            }.get(stat)
            if keep is None:
                keep = get("start", stat) < get("mvae", stat)
            pick = np.where(keep, get("start", "si_sdri"), get("mvae", "si_sdri"))
            pick_mwf = np.where(keep, get("start", "si_sdri_mwf"), get("mvae", "si_sdri_mwf"))
            d, m, w = pick - get("ilrma", "si_sdri"), pick - get("mvae", "si_sdri"), pick_mwf - get("ilrma", "si_sdri")
            lines.append(
                f"| {stat} | {n_src} | {int(keep.sum())}/{n_mix} | {int((keep == better).sum())}/{n_mix} "
                f"| {d.mean():+.2f} ± {se(d):.2f} | {m.mean():+.2f} ± {se(m):.2f} | {w.mean():+.2f} ± {se(w):.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    train_study.check_inputs("zoo_fallback_choice.py", args)
    cache_path = Path(args.zoo) / "fallback_choice.json"
    cache = train_study.cvae_cache("zoo_fallback_choice.py", cache_path, args.cvae_package)
    cache = run(args, cache, cache_path)
    available = min(sum(k.startswith(f"n{n}/") for k in cache) for n in args.n_src)
    text = table(cache, args.n_src, min(args.mixtures, available), args.cvae_package)
    train_study.write_table(Path(args.table), text)
    print(text)


if __name__ == "__main__":
    main()
