"""Seconds per 10-s mixture of MVAE, FastMVAE, FastMVAE2 (full-size, untrained networks) and ILRMA.

Run time does not depend on the weights, so untrained paper-size networks (L = 101 labels)
are timed, 60 iterations, N = 2 and 3, on the CPU and, when present, on the GPU with a batch
of mixtures.

    python benchmarks/bench_mvae.py [--n-src 2 3] [--mvae-steps 100]

Target on the CPU: FastMVAE2 under 1.5 s per mixture for N = 2, and at least 50x faster than MVAE,
with at most 15 % of its time outside the network passes ("FastMVAE2 outside network" column:
1 - time inside the ChimeraACVAE's encode/decode calls over the whole ``forward_wav``; "J off":
with ``track_objective=False``, the objective computed after the last iteration only).
"bf16" rows run the network passes under bfloat16 autocast (``precision="bfloat16"``).
MVAE runs ``--mvae-iter`` iterations (default 5) and its time is scaled to 60 iterations
(its cost per iteration is constant), to keep the benchmark short.

"MVAE lastK" rows time the fast MVAE of ``egs/vcc2018/results/zoo_postfilter``, unscaled: ILRMA for
``--n-iter`` - K iterations, then K MVAE iterations of ``--last-steps`` Adam steps (``--last K``,
default 10 of 5 steps), alone and followed by the Wiener post-filter ("+ MWF"). Target on 2 CPU
cores: at most 10 s per 10-s mixture (the fast separator's budget), with ``--n-labels`` set to the
zoo CVAE's 257 labels.
"""

import argparse
import time

import torch
from common import markdown_table, timed

from asteroid_mvae.models import ILRMA, MVAE, FastMVAE, FastMVAE2


def seconds_per_mixture(model, wav, device, repeats=1):
    model.to(device).forward_wav(wav[:, :, : wav.shape[-1] // 4].to(device))  # warm-up
    times = [timed(model.forward_wav, wav.to(device), device=device)[1] for _ in range(repeats)]
    return min(times) / wav.shape[0]


def outside_network_fraction(model, wav):
    """Share of FastMVAE2's CPU time outside its network's ``encode``/``decode`` calls."""
    inside = [0.0]

    def clocked(fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - start

        return wrapper

    net = model.network
    for name in ("encode", "decode"):
        setattr(net, name, clocked(getattr(net, name)))
    try:
        _, total = timed(model.forward_wav, wav)
    finally:
        for name in ("encode", "decode"):
            delattr(net, name)  # back to the class's methods
    return 1 - inside[0] / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--n-labels", type=int, default=101)
    parser.add_argument("--mvae-steps", type=int, default=100)
    parser.add_argument("--mvae-iter", type=int, default=5)
    parser.add_argument("--last", type=int, default=10, help="MVAE lastK: K MVAE iterations after ILRMA")
    parser.add_argument("--last-steps", type=int, default=5, help="MVAE lastK: Adam steps per iteration")
    parser.add_argument("--gpu-batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for n_src in args.n_src:
        wav = torch.randn(1, n_src, int(args.seconds * 16000))  # timing only: content does not matter
        models = {
            "ILRMA": (ILRMA(n_src=n_src, n_iter=args.n_iter), 1.0),
            "FastMVAE2": (FastMVAE2(n_labels=args.n_labels, n_src=n_src, n_iter=args.n_iter), 1.0),
            "FastMVAE2 bf16": (
                FastMVAE2(n_labels=args.n_labels, n_src=n_src, n_iter=args.n_iter, precision="bfloat16"),
                1.0,
            ),
            "FastMVAE": (FastMVAE(n_labels=args.n_labels, n_src=n_src, n_iter=args.n_iter), 1.0),
            "MVAE": (
                MVAE(
                    n_labels=args.n_labels, n_src=n_src, n_iter=args.mvae_iter, n_steps=args.mvae_steps, init_ilrma=0
                ),  # MVAE iterations only, scaled to n_iter
                args.n_iter / args.mvae_iter,
            ),
        }
        last = dict(n_iter=args.last, init_ilrma=args.n_iter - args.last, n_steps=args.last_steps, lr=0.02)
        models[f"MVAE last{args.last}"] = (MVAE(n_labels=args.n_labels, n_src=n_src, **last), 1.0)
        models[f"MVAE last{args.last} + MWF"] = (
            MVAE(n_labels=args.n_labels, n_src=n_src, postfilter="mwf", **last),
            1.0,
        )
        for device in devices:
            batch = wav if device == "cpu" else wav.expand(args.gpu_batch, -1, -1).contiguous()
            row = {"N": n_src, "device": device if device == "cpu" else f"{device} x{args.gpu_batch}"}
            for name, (model, scale) in models.items():
                row[f"{name} s/mix"] = seconds_per_mixture(model.eval(), batch, device) * scale
            row["MVAE / FastMVAE2"] = row["MVAE s/mix"] / row["FastMVAE2 s/mix"]
            row["FastMVAE2 outside network"] = (
                outside_network_fraction(models["FastMVAE2"][0], batch) if device == "cpu" else "-"
            )  # CPU: the calls are synchronous
            untracked = FastMVAE2(n_labels=args.n_labels, n_src=n_src, n_iter=args.n_iter, track_objective=False).eval()
            untracked.network.load_state_dict(models["FastMVAE2"][0].network.state_dict())
            row["outside network, J off"] = outside_network_fraction(untracked, batch) if device == "cpu" else "-"
            rows.append(row)
            print(row, flush=True)
    print(
        f"\n{args.seconds:g}-s mixtures, {args.n_iter} iterations (MVAE: {args.mvae_iter} iterations of "
        f"{args.mvae_steps} Adam steps, scaled to {args.n_iter}), L = {args.n_labels}, "
        f"torch threads {torch.get_num_threads()}\n"
    )
    print(markdown_table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
