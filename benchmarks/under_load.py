"""Speed under load: our AuxIVA/ILRMA against pyroomacoustics with 1, 2 and 4 concurrent processes.

Each process separates the same 10-s mixtures (N = 2, 60 iterations, J off) with torch's default
threads; all processes of a load level run one method at a time (a barrier between methods), so
ours and pyroomacoustics meet the same load. Two thread policies of ours, measured in the same run:
``adapt`` (the default: threads lowered to the cores other processes leave free,
``asteroid_mvae.separation.threads``) and ``fixed`` (``ASTEROID_MVAE_THREADS=fixed``: torch's
count whatever the load, the earlier behaviour).

    python benchmarks/under_load.py [--loads 1 2 4] [--n-mixtures 3]

Target: ours degrade no worse than in proportion to the load, i.e. the speed-up over
pyroomacoustics at every load stays near its value with one process. Run on a quiet machine.
"""

import argparse
import multiprocessing as mp
import os
import time

import numpy as np

METHODS = ("auxiva", "ilrma")


def worker(mixtures, policy, n_iter, barrier, queue):
    """Times ``{(method, who): mean seconds per mixture}`` of one process, sent on ``queue``."""
    os.environ["ASTEROID_MVAE_THREADS"] = policy
    import torch

    from asteroid_mvae.baselines import PraSeparator
    from asteroid_mvae.models import ILRMA, AuxIVA

    ours = {
        "auxiva": AuxIVA(n_src=2, n_iter=n_iter, track_objective=False),
        "ilrma": ILRMA(n_src=2, n_iter=n_iter, n_basis=2, init="pyroomacoustics", track_objective=False),
    }
    theirs = {
        "auxiva": PraSeparator("auxiva", n_iter=n_iter),
        "ilrma": PraSeparator("ilrma", n_iter=n_iter, n_components=2),
    }
    wavs = [torch.from_numpy(m) for m in mixtures]
    times = {}
    for method in METHODS:
        for who, separator in (("ours", ours[method]), ("pra", theirs[method])):
            separator.forward_wav(wavs[0])  # one-off costs (kernels' load) untimed
            barrier.wait()
            start = time.perf_counter()
            for wav in wavs:
                separator.forward_wav(wav)
            times[(method, who)] = (time.perf_counter() - start) / len(wavs)
    queue.put(times)


def run_load(mixtures, policy, n_iter, load):
    """Mean over ``load`` concurrent processes of their seconds per mixture."""
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(load), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(mixtures, policy, n_iter, barrier, queue)) for _ in range(load)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return {key: float(np.mean([r[key] for r in results])) for key in results[0]}


def main(argv=None):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from common import markdown_table, simulated_mixtures

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, nargs="+", default=[1, 2, 4], help="concurrent processes")
    parser.add_argument("--n-mixtures", type=int, default=3)
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--policies", nargs="+", default=["adapt", "fixed"])
    args = parser.parse_args(argv)
    mixtures = [m.numpy() for m, _ in simulated_mixtures(2, args.n_mixtures, args.seconds)]
    rows, quiet = [], {}
    for policy in args.policies:
        for load in args.loads:
            t = run_load(mixtures, policy, args.n_iter, load)
            for method in METHODS:
                ratio = t[(method, "pra")] / t[(method, "ours")]
                quiet.setdefault((policy, method), ratio)
                rows.append(
                    {
                        "policy": policy,
                        "processes": load,
                        "method": method,
                        "ours s/mix": t[(method, "ours")],
                        "pra s/mix": t[(method, "pra")],
                        "speed-up": ratio,
                        "speed-up / one process's": ratio / quiet[(policy, method)],
                    }
                )
                print(rows[-1], flush=True)
    print(
        f"\n{args.seconds:g}-s mixtures, N = 2, {args.n_iter} iterations, J off, {args.n_mixtures} mixtures, "
        f"{os.cpu_count()} cores\n"
    )
    print(markdown_table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
