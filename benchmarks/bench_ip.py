"""Speed of the IP engine against pyroomacoustics, measured in the same run.

For 10-s reverberant mixtures (the paper's room), N = 2, 3 and 6, 60 iterations: seconds per
mixture of our AuxIVA/ILRMA and pyroomacoustics' ``bss.auxiva``/``bss.ilrma`` on the same STFT,
their ratio, and both SI-SDR improvements (each separator runs once before the timing: the first
call of a process loads our compiled CPU kernels, about 0.3 s); with a GPU, mixtures per second for a batch. "J off":
our models with ``track_objective=False`` (pyroomacoustics does not compute the objective; the
estimates are the same).

    python benchmarks/bench_ip.py [--corpus-dir ../shared/data/vcc2018] [--n-src 2 3 6]

Target: ours at least 5x faster than pyroomacoustics on the CPU at equal SI-SDR (0.3 dB),
N = 2, 3 and 6, ``--threads 1`` and 2.
"""

import argparse

import numpy as np
import torch
from common import markdown_table, simulated_mixtures, timed

from asteroid_mvae.baselines import PraSeparator
from asteroid_mvae.evaluation.metrics import si_sdr_improvement
from asteroid_mvae.models import ILRMA, AuxIVA

# ILRMA starts from the same random NMF factors as pyroomacoustics (its seeded global NumPy draw)
ALGORITHMS = {"auxiva": (AuxIVA, {}), "ilrma": (ILRMA, {"n_basis": 2, "init": "pyroomacoustics"})}
PRA_OPTIONS = {"auxiva": {}, "ilrma": {"n_components": 2}}


def gpu_throughput(cls, kwargs, mixtures, n_iter, batch):
    """Mixtures per second for a batch of mixtures on the GPU (None without one)."""
    if not torch.cuda.is_available():
        return None
    model = cls(n_src=mixtures[0][0].shape[0], n_iter=n_iter, **kwargs)
    wav = torch.stack([m for m, _ in mixtures] * (batch // len(mixtures) + 1))[:batch].to("cuda")
    model.forward_wav(wav[:2])  # warm-up
    _, seconds = timed(model.forward_wav, wav, device="cuda")
    return batch / seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3, 6])
    parser.add_argument(
        "--n-mixtures", type=int, default=5, help="mixtures per N (ILRMA depends on its random start: average several)"
    )
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--corpus-dir", default=None, help="speaker-folder corpus (default: built-in synthetic)")
    parser.add_argument("--gpu-batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for n_src in args.n_src:
        mixtures = simulated_mixtures(n_src, args.n_mixtures, args.seconds, args.corpus_dir)
        for name, (cls, kwargs) in ALGORITHMS.items():
            model = cls(n_src=n_src, n_iter=args.n_iter, **kwargs)
            untracked = cls(n_src=n_src, n_iter=args.n_iter, track_objective=False, **kwargs)
            reference = PraSeparator(name, n_iter=args.n_iter, **PRA_OPTIONS[name])  # same STFT
            ours_s, untracked_s, theirs_s, ours_db, theirs_db = [], [], [], [], []
            for separator in (model, untracked, reference):  # one-off costs (compiled kernels' load) untimed
                separator.forward_wav(mixtures[0][0])
            for mixture, references in mixtures:
                est, sec = timed(model.forward_wav, mixture)
                ours_s.append(sec)
                ours_db.append(si_sdr_improvement(mixture[0], references, est).mean())
                untracked_s.append(timed(untracked.forward_wav, mixture)[1])
                est, sec = timed(reference.forward_wav, mixture)
                theirs_s.append(sec)
                theirs_db.append(si_sdr_improvement(mixture[0], references, est).mean())
            gpu = gpu_throughput(cls, kwargs, mixtures, args.n_iter, args.gpu_batch)
            rows.append(
                {
                    "method": name,
                    "N": n_src,
                    "ours s/mix": float(np.mean(ours_s)),
                    "pra s/mix": float(np.mean(theirs_s)),
                    "speed-up": float(np.mean(theirs_s) / np.mean(ours_s)),
                    "J off s/mix": float(np.mean(untracked_s)),
                    "speed-up, J off": float(np.mean(theirs_s) / np.mean(untracked_s)),
                    "ours SI-SDRi dB": float(np.mean(ours_db)),
                    "pra SI-SDRi dB": float(np.mean(theirs_db)),
                    "GPU mix/s": "-" if gpu is None else float(gpu),
                }
            )
            print(rows[-1], flush=True)
    print(
        f"\n{args.seconds:g}-s mixtures, {args.n_iter} iterations, {args.n_mixtures} mixtures per N, "
        f"torch threads {torch.get_num_threads()}, device {'cuda' if torch.cuda.is_available() else 'cpu'}\n"
    )
    print(markdown_table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
