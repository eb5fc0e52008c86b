"""Long recordings in bounded memory: peak RSS and seconds of AuxIVA, ILRMA and
FastMVAE2 on 1, 10 and 60 minutes of 4- and 8-channel audio at N = M::

    python benchmarks/long_recordings.py [--minutes 1 10 60] [--mics 4 8] [--n-iter 2]

Each configuration runs in a fresh child process (peak RSS of that process alone). The table
gives the peak RSS over the size of the mixture's STFT (complex64, the floor any STFT-domain
separator needs) and, as the reference run in the same benchmark, the engine with all packed
outer products kept (``block_frames`` above ``T``, the former behaviour) against the automatic frame
blocks (whole below 1 GiB of packed products, blocks above). The audio is an instantaneous
random mix of independent Laplacian noises (content does not change memory or time); FastMVAE2
runs an untrained 1024-bin ChimeraACVAE (the trained one has the same cost). ``--n-iter``
iterations only: seconds scale linearly with it beyond the STFT.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

METHODS = ("auxiva", "ilrma", "fastmvae2")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    parser.add_argument("--mics", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--n-iter", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--whole-up-to", type=float, default=10.0, help="also run the whole-packed reference up to this many minutes"
    )
    parser.add_argument("--child", nargs=4, metavar=("METHOD", "MINUTES", "MICS", "MODE"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def recording(minutes: float, mics: int, seed: int = 0):
    """``[1, mics, samples]`` float32: ``mics`` independent Laplacian sources mixed at random."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    n = int(minutes * 60 * 16000)
    mixing = torch.randn(mics, mics, generator=gen)
    sources = torch.distributions.Laplace(0.0, 0.1).sample((mics, n))
    return (mixing @ sources)[None]


def child(method: str, minutes: float, mics: int, mode: str, n_iter: int, threads: int) -> dict:
    import torch

    from asteroid_mvae.models import FastMVAE2, load_model

    torch.set_num_threads(threads)
    block = None if mode == "blocks" else 10**9  # 10^9 frames: one block, the packed products kept whole
    common = dict(n_src=mics, n_iter=n_iter, block_frames=block)
    if method == "fastmvae2":
        torch.manual_seed(0)
        model = FastMVAE2(n_labels=12, **common).eval()
    else:
        model = load_model(method, **common)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # imports and the model
    wav = recording(minutes, mics)
    start = time.perf_counter()
    with torch.no_grad():
        estimates = model.forward_wav(wav)
    seconds = time.perf_counter() - start
    assert bool(torch.isfinite(estimates).all())
    frames = wav.shape[-1] // 1024 + 1
    return {
        "method": method,
        "minutes": minutes,
        "mics": mics,
        "mode": mode,
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "before_mb": baseline,
        "stft_mb": mics * 1025 * frames * 8 / 2**20,
        "wav_mb": wav.numel() * 4 / 2**20,
    }


def run_child(args, method, minutes, mics, mode) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        method,
        str(minutes),
        str(mics),
        mode,
        "--n-iter",
        str(args.n_iter),
        "--threads",
        str(args.threads),
    ]
    out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode:
        return {
            "method": method,
            "minutes": minutes,
            "mics": mics,
            "mode": mode,
            "error": (out.stderr.strip().splitlines() or ["?"])[-1],
        }
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows) -> str:
    lines = [
        "| method | minutes | mics | STFT (MB) | peak RSS, blocks (MB) | blocks: growth / STFT | s, blocks | "
        "peak RSS, whole (MB) | whole / blocks, RSS | whole / blocks, s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    key = lambda r: (r["method"], r["minutes"], r["mics"])
    whole = {key(r): r for r in rows if r["mode"] == "whole" and "error" not in r}
    for r in rows:
        if r["mode"] != "blocks":
            continue
        if "error" in r:
            lines.append(f"| {r['method']} | {r['minutes']:g} | {r['mics']} | | failed: {r['error']} | | | | | |")
            continue
        w = whole.get(key(r))
        ref = (
            f"{w['peak_mb']:.0f} | {w['peak_mb'] / r['peak_mb']:.2f} | {w['seconds'] / r['seconds']:.2f}"
            if w
            else " | | "
        )
        lines.append(
            f"| {r['method']} | {r['minutes']:g} | {r['mics']} | {r['stft_mb']:.0f} | {r['peak_mb']:.0f} | "
            f"{(r['peak_mb'] - r['before_mb']) / r['stft_mb']:.2f} | {r['seconds']:.1f} | {ref} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        method, minutes, mics, mode = args.child
        print(json.dumps(child(method, float(minutes), int(mics), mode, args.n_iter, args.threads)))
        return
    rows = []
    for minutes in args.minutes:
        for mics in args.mics:
            for method in args.methods:
                modes = ["blocks"] + (["whole"] if minutes <= args.whole_up_to else [])
                for mode in modes:
                    rows.append(run_child(args, method, minutes, mics, mode))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"{args.n_iter} iterations, {args.threads} thread(s)\n")
    print(table(rows))
    print(
        "growth: peak RSS minus the RSS before the audio was made (imports, model), over the STFT's size; "
        "it includes the audio itself (float32, half the STFT) and the estimates."
    )


if __name__ == "__main__":
    main()
