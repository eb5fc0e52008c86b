"""What the studies that choose a setting on a zoo's training-sentence mixtures share.

``zoo_fallback_choice.py`` and ``zoo_postfilter_variants.py`` separate the first ``--mixtures``
mixtures of ``<zoo>/mix_train_<N>src`` (never the test mixtures) with a CVAE package, cache the
scores in a JSON file of the zoo folder (resumable) and write one markdown table.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from asteroid_mvae.utils.io import write_text


def parser(description: str) -> argparse.ArgumentParser:
    """The options every study takes (its output option is its own)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--zoo", required=True, help="a zoo folder with mix_train_<N>src (zoo_vcc2018.py --out)")
    p.add_argument("--cvae-package", required=True)
    p.add_argument("--mixtures", type=int, default=8, help="training-sentence mixtures per N (at least 2)")
    p.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    p.add_argument("--threads", type=int, default=1)
    return p


def fail(prog: str, message: str) -> None:
    """One-line error on stderr, exit status 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def check_inputs(prog: str, args) -> None:
    """Refuse, in one line, a missing mixture folder or package, or fewer than 2 mixtures."""
    zoo = Path(args.zoo)
    needed = [(zoo / f"mix_train_{n}src" / "metadata.csv", "run zoo_vcc2018.py --eval-part train") for n in args.n_src]
    for path, what in needed + [(Path(args.cvae_package), "--cvae-package")]:
        if not path.is_file():
            fail(prog, f"{path} is missing ({what})")
    if args.mixtures < 2:
        fail(prog, "--mixtures must be at least 2 (a paired standard error)")


def load_cache(path: Path) -> dict:
    """The cached scores of an earlier run (``{}`` if none)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def cvae_cache(prog: str, path: Path, cvae_package: str) -> dict:
    """The cached scores of an earlier run with the same CVAE; refuses, in one line, another CVAE's."""
    cache = load_cache(path)
    if cache.get("cvae_package", cvae_package) != cvae_package:
        fail(prog, f"{path} holds separations with {cache['cvae_package']}; remove it to start over with another CVAE")
    cache["cvae_package"] = cvae_package
    return cache


def save_cache(cache: dict, path: Path) -> None:
    """Write the cache atomically (a killed run leaves the previous one)."""
    write_text(path, json.dumps(cache, indent=0))


def si_sdri(mix: torch.Tensor, refs: torch.Tensor, Y: torch.Tensor, config) -> float:
    """SI-SDR improvement (dB, mean over sources) of the STFT outputs ``Y [1, N, F, T]``.

    ``mix [M, samples]``, ``refs [N, samples]`` (images at the reference microphone).
    """
    from asteroid_mvae.evaluation.metrics import si_sdr_improvement
    from asteroid_mvae.separation.stft import istft

    estimates = istft(Y, mix.shape[-1], config)[0].double().numpy()
    return float(np.mean(si_sdr_improvement(mix[0].numpy(), refs.numpy(), estimates)))


def write_table(path: Path, text: str) -> None:
    """Write the table atomically, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
