"""GPU check: the separators and training steps on a real device, against the CPU.

Prints two markdown tables:

1. separation: mixtures per second for AuxIVA, ILRMA and FastMVAE2 on batches of 10-s
   mixtures (N = 2, 3), on ``--device`` and on the CPU, and the largest CPU/device difference
   of the estimates relative to their peak (same inputs, float32);
2. training: optimizer steps per second of CVAE, ACVAE and ChimeraACVAE (with its teacher)
   on the device and on the CPU (full step: every loss term, backward, Adam).

The deep networks are untrained (speed and agreement do not depend on the weights). Run on a
machine with a GPU through ``benchmarks/gpu_check.sh``; ``--device cpu --quick`` runs the same
code on the CPU in seconds (the test suite does, so the script cannot rot)::

    python benchmarks/gpu_check.py --device cuda --batches 1 16 64
"""

import argparse
import time

import torch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument("--cpu-batch", type=int, default=1, help="CPU reference batch (the CPU is slow)")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-frames", type=int, default=128)
    parser.add_argument("--labels", type=int, default=101)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run of the script)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeats=2):
    """Best wall time of ``repeats`` calls after one warm-up call; returns (seconds, last output)."""
    out = fn()
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, out


def separators(n_src, n_iter, n_fft):
    from asteroid_mvae.models import load_model

    common = dict(n_src=n_src, n_iter=n_iter, n_fft=n_fft, hop_length=n_fft // 2)
    return {
        "auxiva": load_model("auxiva", **common),
        "ilrma": load_model("ilrma", **common),
        "fastmvae2": load_model("fastmvae2", allow_untrained=True, n_freq=n_fft // 2, **common),
    }


def separation_rows(args):
    from asteroid_mvae.evaluation.toy import simulate_mixture

    n_fft = 256 if args.quick else 2048
    rows = []
    for n_src in args.n_src:
        mixture, _ = simulate_mixture(n_src, args.seconds, seed=args.seed)
        mixture = torch.from_numpy(mixture)
        for name, model in separators(n_src, args.n_iter, n_fft).items():
            model = model.eval()
            one = mixture[None]
            with torch.no_grad():
                cpu_time, cpu_out = timed(
                    lambda: model.to("cpu").forward_wav(one.expand(args.cpu_batch, -1, -1)), "cpu", 1
                )
                model.to(args.device)
                _, dev_out = timed(lambda: model.forward_wav(one.to(args.device)), args.device, 1)
                diff = float((dev_out.cpu()[0] - cpu_out[0]).abs().max() / cpu_out[0].abs().max())
                for batch in args.batches:
                    wav = one.expand(batch, -1, -1).contiguous().to(args.device)
                    seconds, _ = timed(lambda: model.forward_wav(wav), args.device)
                    rows.append((name, n_src, batch, batch / seconds, args.cpu_batch / cpu_time, diff))
            model.to("cpu")
    return rows


def training_rows(args):
    from asteroid_mvae.networks import ACVAE, CVAE, ChimeraACVAE
    from asteroid_mvae.training import ACVAESystem, ChimeraSystem, CVAESystem

    n_freq = 64 if args.quick else 1024
    rows = []
    for cls in (CVAE, ACVAE, ChimeraACVAE):
        rates = {}
        for device in (args.device, "cpu"):
            torch.manual_seed(args.seed)
            net = cls(args.labels, n_freq).to(device)
            if cls is ChimeraACVAE:
                system = ChimeraSystem(net, None, None, teacher=CVAE(args.labels, n_freq).to(device))
            else:
                system = (ACVAESystem if cls is ACVAE else CVAESystem)(net, None, None)
            optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
            x = torch.rand(args.train_batch, n_freq, args.train_frames, device=device)
            labels = torch.arange(args.train_batch, device=device) % args.labels
            system.train()

            def step():
                loss = system.total_loss(system.loss_terms(x, labels))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                return loss

            seconds, _ = timed(step, device)
            rates[device] = 1.0 / seconds
        rows.append((cls.__name__, rates[args.device], rates["cpu"]))
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.seconds, args.n_iter, args.batches, args.labels = 1.0, 2, [1, 2], 3
        args.train_batch, args.train_frames = 2, 16
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"gpu_check: --device {args.device} but no CUDA GPU is visible here; use --device cpu "
            "--quick for a smoke run"
        )
    name = torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda" else "cpu"
    print(
        f"device: {args.device} ({name}); torch {torch.__version__}; CPU threads {torch.get_num_threads()}; "
        f"{args.seconds:g}-s mixtures, {args.n_iter} iterations"
    )
    print(
        "\n| separator | N | batch | mixtures/s on device | mixtures/s on CPU (batch "
        f"{args.cpu_batch}) | max |CPU - device| / peak |\n|---|---|---|---|---|---|"
    )
    for name, n_src, batch, rate, cpu_rate, diff in separation_rows(args):
        print(f"| {name} | {n_src} | {batch} | {rate:.2f} | {cpu_rate:.3f} | {diff:.1e} |", flush=True)
    print("\n| network | steps/s on device | steps/s on CPU |\n|---|---|---|")
    for name, rate, cpu_rate in training_rows(args):
        print(f"| {name} | {rate:.2f} | {cpu_rate:.2f} |", flush=True)


if __name__ == "__main__":
    main()
