"""Room-simulation throughput: mixtures per minute for --jobs 1 and 2 (the paper's protocol).

    python benchmarks/bench_simulate.py [--n-mixtures 8] [--n-src 2] [--corpus builtin|folder --corpus-dir DIR]

Each run writes into a fresh temporary folder (nothing is resumed). Timings for ``--jobs > 1``
include starting the worker processes (each imports torch through ``asteroid_mvae``).
"""

import argparse
import tempfile
import time
import warnings

from asteroid_mvae.data import RoomConfig, get_corpus, simulate_mixtures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-mixtures", type=int, default=8)
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--corpus", default="builtin")
    parser.add_argument("--corpus-dir")
    args = parser.parse_args()
    corpus = get_corpus(args.corpus, args.corpus_dir, **({"n_speakers": 6} if args.corpus == "builtin" else {}))
    config = RoomConfig(duration=args.duration)
    print(
        f"corpus={args.corpus} ({len(corpus.speakers)} speakers), {args.duration:g}-s signals, RT60 {config.rt60} s, "
        f"room {config.room_dim} m, {args.n_mixtures} mixtures per run"
    )
    print(f"{'n_src':>5} {'jobs':>4} {'seconds':>8} {'mixtures/min':>13}")
    for n_src in args.n_src:
        for jobs in args.jobs:
            with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                simulate_mixtures(
                    corpus, out, n_src=n_src, n_mixtures=args.n_mixtures, seed=0, jobs=jobs, config=config
                )
                seconds = time.perf_counter() - start
            print(f"{n_src:>5} {jobs:>4} {seconds:>8.2f} {60 * args.n_mixtures / seconds:>13.1f}")


if __name__ == "__main__":
    main()
