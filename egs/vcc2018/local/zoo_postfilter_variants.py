"""Which masks the Wiener post-filter should use: variants on training-sentence mixtures only.

The post-filter (``asteroid_mvae/separation/postfilter.py``) builds each source's spatial covariance
from the soft masks ``|s_n|^2 / sum_k |s_k|^2`` of the separated outputs. This study separates the
first ``--mixtures`` training-sentence mixtures per N of a zoo folder (``mix_train_*src``, never the
test mixtures) once with ILRMA and once with MVAE's last 10 iterations (``--cvae-package``), keeps
their STFT outputs, and scores the post-filter with other masks on the same outputs:

- ``mwf_aA``: powers raised to ``A`` before normalising (sharper masks for ``A > 1``);
- ``mwf_itK``: the post-filter applied ``K`` times, each time on the previous one's outputs;
- ``model_bB``: the source model's last variance ``r_n`` (scaled per source and frequency by its
  maximum-likelihood gain to the outputs) to the power ``B`` times ``|s_n|^2`` to ``1 - B``;
- ``oracle``: the true source images' masks (an upper bound of what better masks can give).

Separations are cached in ``<zoo>/postfilter_variants.json`` (resumable); the table, paired against
ILRMA without post-filter, goes to ``<results>/variants.md``::

    python egs/vcc2018/local/zoo_postfilter_variants.py --zoo exp/zoo_postfilter \\
        --cvae-package exp/zoo_authors/cvae/network_step2100.pt --results egs/vcc2018/results/zoo_postfilter
"""

import logging
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_study  # noqa: E402  (this folder's shared helpers)

log = logging.getLogger("zoo_postfilter_variants")
EXPONENTS = (0.5, 0.75, 1.5, 2.0)
ITERATIONS = (2, 3)
MODEL_WEIGHTS = (1.0, 0.5)


def parse_args(argv=None):
    parser = train_study.parser(__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, help="folder of variants.md")
    return parser.parse_args(argv)


class Recording:
    """A source model that keeps the last variance ``[batch, src, freq, frames]`` it returned."""

    def __init__(self, model):
        self.__dict__.update(_model=model, last=None)

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __setattr__(self, name, value):
        setattr(self._model, name, value)

    def update(self, power):
        self.__dict__["last"] = self._model.update(power)
        return self.__dict__["last"]


def with_power(S: torch.Tensor, power: torch.Tensor) -> torch.Tensor:
    """``S`` ``[batch, src, freq, frames]`` with its magnitudes replaced by ``sqrt(power)`` (masks read only those)."""
    return torch.sqrt(power).to(S.dtype) * torch.exp(1j * torch.angle(S))


def variants(X: torch.Tensor, S: torch.Tensor, r: torch.Tensor) -> dict:
    """Post-filtered outputs per variant name, from mixture ``X [1, M, F, T]``, outputs ``S [1, N, F, T]``
    and the source model's variance ``r [1, N, F, T]``."""
    from asteroid_mvae.separation import spatial
    from asteroid_mvae.separation.postfilter import multichannel_wiener

    P = spatial.power(S)
    out = {"none": S, "mwf": multichannel_wiener(X, S)}
    for a in EXPONENTS:
        out[f"mwf_a{a:g}"] = multichannel_wiener(X, with_power(S, P**a))
    Y = out["mwf"]
    for k in range(2, max(ITERATIONS) + 1):
        Y = multichannel_wiener(X, Y)
        if k in ITERATIONS:
            out[f"mwf_it{k}"] = Y
    r = r.to(P.dtype).clamp_min(1e-30)
    scaled = r * (P / r).mean(-1, keepdim=True)
    for b in MODEL_WEIGHTS:
        out[f"model_b{b:g}"] = multichannel_wiener(X, with_power(S, scaled**b * P ** (1 - b)))
    return out


def run(args, cache: dict, cache_path: Path) -> dict:
    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.models import ILRMA, MVAE
    from asteroid_mvae.separation.postfilter import multichannel_wiener
    from asteroid_mvae.separation.stft import stft

    for n_src in args.n_src:
        dataset = MixtureDataset(Path(args.zoo) / f"mix_train_{n_src}src" / "metadata.csv")
        seps = {
            "ilrma": ILRMA(n_src=n_src, n_iter=60, postfilter="none"),
            "mvae_last10": MVAE.from_network_package(
                args.cvae_package, n_src=n_src, n_iter=10, init_ilrma=50, n_steps=5, lr=0.02, postfilter="none"
            ),
        }
        for i in range(min(args.mixtures, len(dataset))):
            mix, refs = dataset[i]
            X = None
            for name, sep in seps.items():
                key = f"n{n_src}/{i}/{name}"
                if f"{key}/none" in cache:
                    continue
                model = Recording(sep.make_source_model())
                S = sep.separate_with_history(mix[None].float(), source_model=model).result.estimates
                X = stft(mix[None].double(), sep.stft_config).to(S.dtype)
                for variant, Y in variants(X, S, model.last).items():
                    cache[f"{key}/{variant}"] = train_study.si_sdri(mix, refs, Y, sep.stft_config)
                log.info("%s: %s", key, {k[len(key) + 1 :]: round(v, 2) for k, v in cache.items() if k.startswith(key)})
            if f"n{n_src}/{i}/oracle/mwf" not in cache:
                config = seps["ilrma"].stft_config
                X = stft(mix[None].double(), config)
                Y = multichannel_wiener(X, stft(refs[None].double(), config))
                cache[f"n{n_src}/{i}/oracle/mwf"] = train_study.si_sdri(mix, refs, Y, config)
            train_study.save_cache(cache, cache_path)
    return cache


def table(cache: dict, n_srcs, n_mix: int) -> str:
    """Markdown: each (separator, variant) minus ILRMA without post-filter, paired mean ± s.e."""
    lines = [
        "| separator | variant | N | mixtures | minus ilrma, paired (dB) | better than mwf |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("ilrma", "mvae_last10", "oracle"):
        names = sorted(
            {k.split("/")[3] for k in cache if k.split("/")[2] == name}, key=lambda v: (v != "none", v != "mwf", v)
        )
        for variant in names:
            for n_src in n_srcs:
                base = np.array([cache[f"n{n_src}/{i}/ilrma/none"] for i in range(n_mix)])
                x = np.array([cache[f"n{n_src}/{i}/{name}/{variant}"] for i in range(n_mix)])
                mwf = np.array(
                    [cache[f"n{n_src}/{i}/{'ilrma' if name == 'oracle' else name}/mwf"] for i in range(n_mix)]
                )
                d = x - base
                se = d.std(ddof=1) / np.sqrt(n_mix)
                lines.append(
                    f"| {name} | {variant} | {n_src} | {n_mix} | {d.mean():+.2f} ± {se:.2f} "
                    f"| {int((x > mwf).sum())}/{n_mix} |"
                )
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    train_study.check_inputs("zoo_postfilter_variants.py", args)
    cache_path = Path(args.zoo) / "postfilter_variants.json"
    cache = train_study.load_cache(cache_path)
    cache = run(args, cache, cache_path)
    text = table(cache, args.n_src, args.mixtures)
    train_study.write_table(Path(args.results) / "variants.md", text)
    print(text)


if __name__ == "__main__":
    main()
