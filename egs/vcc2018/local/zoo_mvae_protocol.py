"""Does MVAE's last-10 form gain from more of its fit? Protocol variants on training-sentence mixtures.

MVAE's fast form (50 ILRMA iterations, then 10 MVAE iterations of 5 Adam steps of 0.02) is the
setting of ``results/zoo_postfilter``. This study separates the first ``--mixtures`` training-sentence
mixtures per N of a zoo folder (``mix_train_<N>src``, never the test mixtures) with it and with
variants that fit the latent further or otherwise:

- ``init50``: 50 Adam steps on the ILRMA outputs before the first MVAE iteration (``init_steps``;
  the authors' code takes 100 from the identity);
- ``prior``: the latent's N(0, I) prior in the fit (``prior_weight=1``, the authors');
- ``frequency_gain``: one ML gain per frequency and output in the latent fit instead of one per
  output (the variance's own per-frequency scale is left to the demixer, which absorbs it).

ILRMA (60 iterations) is the reference. Separations are cached in ``<zoo>/mvae_protocol.json``
(resumable); the table goes to ``--table``::

    python egs/vcc2018/local/zoo_mvae_protocol.py --zoo exp/zoo_postfilter \\
        --cvae-package exp/zoo_authors/cvae/network.pt --table egs/vcc2018/results/zoo_postfilter/mvae_protocol.md
"""

import logging
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_study  # noqa: E402  (this folder's shared helpers)

log = logging.getLogger("zoo_mvae_protocol")
PROG = "zoo_mvae_protocol.py"
BASE = dict(n_iter=10, init_ilrma=50, n_steps=5, lr=0.02, postfilter="none")
VARIANTS = {"last10": {}, "init50": {"init_steps": 50}, "prior": {"prior_weight": 1.0}, "frequency_gain": {}}


def parse_args(argv=None):
    parser = train_study.parser(__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="markdown file of the table")
    return parser.parse_args(argv)


def frequency_gain_nll(target: torch.Tensor, log_power: torch.Tensor) -> torch.Tensor:
    """``sum log r + p / r`` at ``r = g_f exp(h)``, ``g_f = mean_t(p e^-h)`` per item and frequency.

    ``target, log_power [items, F, T]`` -> scalar.
    """
    from asteroid_mvae.separation.deep import item_nll

    return item_nll(target.flatten(0, 1)[:, None], log_power.flatten(0, 1)[:, None]).sum()  # one item per frequency


def frequency_gain_source(model):
    """``model`` (a CVAESource) with the per-frequency gain in its latent fit."""
    from asteroid_mvae.separation.deep import CVAESource

    class FrequencyGainSource(CVAESource):
        def loss(self, target, log_power):
            return frequency_gain_nll(target, log_power) + 0.5 * self.prior_weight * self.latent.pow(2).sum()

    model.__class__ = FrequencyGainSource
    return model


def run(args, cache: dict, cache_path: Path) -> dict:
    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.models import ILRMA, MVAE
    from asteroid_mvae.separation.postfilter import multichannel_wiener
    from asteroid_mvae.separation.stft import stft

    for n_src in args.n_src:
        dataset = MixtureDataset(Path(args.zoo) / f"mix_train_{n_src}src" / "metadata.csv")
        seps = {"ilrma": ILRMA(n_src=n_src, n_iter=60, postfilter="none")}
        for name, options in VARIANTS.items():
            seps[name] = MVAE.from_network_package(args.cvae_package, n_src=n_src, **BASE, **options)
        for i in range(min(args.mixtures, len(dataset))):
            mix, refs = dataset[i]
            for name, sep in seps.items():
                key = f"n{n_src}/{i}/{name}"
                if key in cache:
                    continue
                model = sep.make_source_model()
                if name == "frequency_gain":
                    model = frequency_gain_source(model)
                S = sep.separate_with_history(mix[None].float(), source_model=model).result.estimates
                X = stft(mix[None].double(), sep.stft_config)
                Y = multichannel_wiener(X, S.to(X.dtype))
                cache[key] = [train_study.si_sdri(mix, refs, S, sep.stft_config)]
                cache[key].append(train_study.si_sdri(mix, refs, Y, sep.stft_config))
                log.info("%s: %.2f / %.2f dB (plain / MWF)", key, *cache[key])
                train_study.save_cache(cache, cache_path)
    return cache


def table(cache: dict, n_srcs, n_mix: int, cvae: str) -> str:
    """Markdown: each variant minus ILRMA and minus ``last10``, plain and with the post-filter."""
    lines = [
        f"Training-sentence mixtures ({n_mix} per N), CVAE `{Path(cvae).name}`. Paired mean ± standard error (dB); "
        "`better`: mixtures where the variant beats `last10`.\n",
        "| variant | N | minus ILRMA | minus last10 | better | + MWF, minus ILRMA | + MWF, minus last10 + MWF |",
        "|---|---|---|---|---|---|---|",
    ]

    def se(d):
        return d.std(ddof=1) / np.sqrt(len(d))

    for name in VARIANTS:
        for n_src in n_srcs:
            x, ilrma, base = (
                np.array([cache[f"n{n_src}/{i}/{k}"] for i in range(n_mix)]) for k in (name, "ilrma", "last10")
            )
            a, b, c, d = x[:, 0] - ilrma[:, 0], x[:, 0] - base[:, 0], x[:, 1] - ilrma[:, 0], x[:, 1] - base[:, 1]
            lines.append(
                f"| {name} | {n_src} | {a.mean():+.2f} ± {se(a):.2f} | {b.mean():+.2f} ± {se(b):.2f} "
                f"| {int((b > 0).sum())}/{n_mix} | {c.mean():+.2f} ± {se(c):.2f} | {d.mean():+.2f} ± {se(d):.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    train_study.check_inputs(PROG, args)
    cache_path = Path(args.zoo) / "mvae_protocol.json"
    cache = train_study.cvae_cache(PROG, cache_path, args.cvae_package)
    cache = run(args, cache, cache_path)
    available = min(sum(k.startswith(f"n{n}/") and k.endswith("/frequency_gain") for k in cache) for n in args.n_src)
    text = table(cache, args.n_src, min(args.mixtures, available), args.cvae_package)
    train_study.write_table(Path(args.table), text)
    print(text)


if __name__ == "__main__":
    main()
