"""Parameter counts and forward+backward time per training step of the source-model networks.

Usage: python benchmarks/bench_networks.py [--batch 16] [--frames 128] [--labels 101] [--steps 3]
Prints a markdown table (CPU threads = torch.get_num_threads()).
"""
import argparse
import time

import torch

from asteroid_mvae.networks import ACVAE, CVAE, ChimeraACVAE


def step_time(net, batch, frames, steps):
    x = torch.rand(batch, net.n_freq, frames)
    label = torch.nn.functional.one_hot(torch.arange(batch) % net.n_labels, net.n_labels).float()
    net.train()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        if isinstance(net, ChimeraACVAE):
            log_power, _, _, logits = net(x, label)
            loss = log_power.mean() + logits.mean()
        else:
            log_power, _, _ = net(x, label)
            loss = log_power.mean()
            if isinstance(net, ACVAE):
                loss = loss + net.classify_log(x).mean() + net.classify_log(log_power.mul(0.5).exp()).mean()
        loss.backward()
        net.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return min(times[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--labels", type=int, default=101)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"threads={torch.get_num_threads()} batch={args.batch} frames={args.frames} labels={args.labels}")
    print("| network | parameters | fwd+bwd s/step |")
    print("|---|---:|---:|")
    for cls in (CVAE, ACVAE, ChimeraACVAE):
        net = cls(args.labels)
        n_params = sum(p.numel() for p in net.parameters())
        print(f"| {cls.__name__} | {n_params:,} | {step_time(net, args.batch, args.frames, args.steps):.2f} |", flush=True)


if __name__ == "__main__":
    main()
