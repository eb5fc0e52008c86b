"""How well a re-trained encoder describes FastMVAE2's iterates and the true sources, per N and iteration.

Encoder re-training (``local/zoo_retrain_scale.py``) lowers the Itakura-Saito loss of the
ChimeraACVAE autoencoding FastMVAE2's own outputs. This study asks whether that lower loss means a
better description of the sources. On the first ``--mixtures`` validation mixtures per N of the
re-training data (training sentences, never the test mixtures), it runs FastMVAE2 with the base
network (30 iterations, the re-training data's iterates, recomputed with the true source images
at the reference microphone), autoencodes every output at every iteration with the base and the
re-trained networks, and averages three divergences per (N, iteration):

- ``self``: the re-training loss, the output's own power against the decoded variance (one gain
  per output, :func:`asteroid_mvae.retraining.system.scaled_is_divergence`);
- ``true``: the best-matching true source power against the decoded variance, with one gain per
  frequency (the demixer fixes each frequency's scale, so only the shape within a frequency counts);
- ``true`` of the output's own power: how far the iterate itself is from its source (the leakage).

Cached in ``<data>/fit_<tag>.json`` (resumable); the table goes to ``--table``::

    python egs/vcc2018/local/zoo_retrain_fit.py --data exp/zoo_postfilter/retrain_data_k200_rt200-400_c1e4_s1100 \\
        --retrained exp/zoo_postfilter/retrained_k200_c1e4_s1100_lr1e-5/network.pt \\
        --table egs/vcc2018/results/zoo_postfilter/retrain_fit.md
"""

import argparse
import logging
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_study  # noqa: E402  (this folder's shared helpers)

log = logging.getLogger("zoo_retrain_fit")
PROG = "zoo_retrain_fit.py"
SHOWN = (0, 1, 2, 3, 5, 10, 20, 30)  # iterations in the table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="re-training data folder (zoo_retrain_scale.py)")
    parser.add_argument("--retrained", required=True, help="the re-trained network package (network.pt)")
    parser.add_argument("--base", default=None, help="base ChimeraACVAE package (default: the data's)")
    parser.add_argument("--mixtures", type=int, default=10, help="validation mixtures per N")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table", required=True, help="markdown file of the table")
    return parser.parse_args(argv)


def frequency_scaled_is(power: torch.Tensor, log_power: torch.Tensor) -> torch.Tensor:
    """IS divergence of ``power`` from ``g_f exp(log_power)`` at the ML gain of each frequency.

    ``power, log_power [items, F, T]`` -> ``[items]`` (mean over bins); ``power`` floored at 1e-8.
    """
    from asteroid_mvae.retraining.system import scaled_is_divergence

    per_frequency = scaled_is_divergence(power.flatten(0, 1)[:, None], log_power.flatten(0, 1)[:, None])
    return per_frequency.view(power.shape[:2]).mean(1)  # one item per frequency, then the mean over them


def divergences(nets: dict, inputs: torch.Tensor, clean: torch.Tensor, perm: torch.Tensor) -> dict:
    """Per iteration and output: ``{key: [iterations, N]}`` for one mixture's recorded iterates.

    ``inputs [iterations, N, F, T]`` (network inputs, magnitudes), ``clean [N, F, T]``,
    ``perm [iterations, N]`` (output -> source).
    """
    from asteroid_mvae.retraining.system import autoencode, scaled_is_divergence

    out = defaultdict(list)
    for it in range(inputs.shape[0]):
        x = inputs[it].float()
        target = clean[perm[it]].float() ** 2
        for name, net in nets.items():
            h = autoencode(net, x)
            out[f"{name}/self"].append(scaled_is_divergence(x**2, h))
            out[f"{name}/true"].append(frequency_scaled_is(target, h))
        out["output/true"].append(frequency_scaled_is(target, torch.log(x**2 + 1e-8)))
    return {k: torch.stack(v).tolist() for k, v in out.items()}


def run(args, cache: dict, cache_path: Path) -> dict:
    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.networks import load_network_package
    from asteroid_mvae.retraining.data import read_index, run_and_record, split_items
    from asteroid_mvae.separation.stft import StftConfig

    index = read_index(args.data)
    settings = index["settings"]
    base = args.base or settings["network_package"]
    nets = {"base": load_network_package(base)[0].eval(), "retrained": load_network_package(args.retrained)[0].eval()}
    _, val_ids = split_items([e["id"] for e in index["items"]], 0.1, 0)  # the re-training's own split
    entries = {e["id"]: e for e in index["items"]}
    done = defaultdict(int)
    with torch.no_grad():
        for item in val_ids:
            entry = entries[item]
            n_src = int(entry["n_src"])
            if done[n_src] >= args.mixtures:
                continue
            done[n_src] += 1
            if item in cache:
                continue
            mix, refs = MixtureDataset(entry["csv"])[entry["row"]]
            shard = run_and_record(nets["base"], mix[:n_src], settings["n_iter"], StftConfig(*settings["stft"]), refs)
            cache[item] = {"n_src": n_src, **divergences(nets, shard["inputs"], shard["clean"], shard["perm"])}
            log.info("%s (N = %d) done", item, n_src)
            train_study.save_cache(cache, cache_path)
    return cache


def table(cache: dict, retrained: str) -> str:
    """Markdown: mean divergences per N and iteration, base and re-trained."""
    lines = [
        f"Re-trained network `{retrained}`; FastMVAE2 iterates of the base network on validation mixtures of the "
        "re-training data (training sentences). Mean over outputs and mixtures; lower is better.\n",
        "| N | mixtures | iteration | loss, base | loss, re-trained | true, base | true, re-trained | true, output |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n_src in sorted({v["n_src"] for v in cache.values() if isinstance(v, dict)}):
        rows = [v for v in cache.values() if isinstance(v, dict) and v["n_src"] == n_src]
        for it in SHOWN:
            if it >= len(rows[0]["base/self"]):
                continue
            cells = [
                np.mean([r[key][it] for r in rows])
                for key in ("base/self", "retrained/self", "base/true", "retrained/true", "output/true")
            ]
            lines.append(f"| {n_src} | {len(rows)} | {it} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    for path, what in ((data / "index.json", "--data"), (Path(args.retrained), "--retrained")):
        if not path.is_file():
            train_study.fail(PROG, f"{path} is missing ({what})")
    if args.base is not None and not Path(args.base).is_file():
        train_study.fail(PROG, f"{args.base} is missing (--base)")
    if args.mixtures < 1:
        train_study.fail(PROG, "--mixtures must be at least 1")
    cache_path = data / f"fit_{Path(args.retrained).parent.name}.json"
    cache = train_study.load_cache(cache_path)
    cache = run(args, cache, cache_path)
    text = table(cache, args.retrained)
    train_study.write_table(Path(args.table), text)
    print(text)


if __name__ == "__main__":
    main()
