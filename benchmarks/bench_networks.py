"""Parameter counts and forward+backward time per training step of the source-model networks.

Usage: python benchmarks/bench_networks.py [--batch 16] [--frames 128] [--labels 101] [--steps 3]
Prints a markdown table (CPU threads = torch.get_num_threads()).
"""

import argparse
import time

import torch

from asteroid_mvae.networks import ACVAE, CVAE, ChimeraACVAE
from asteroid_mvae.training import ACVAESystem, ChimeraSystem, CVAESystem


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


def system_step_time(net, batch, frames, steps):
    """Full training step (all loss terms, backward, Adam) of the network's System."""
    x = torch.rand(batch, net.n_freq, frames)
    labels = torch.arange(batch) % net.n_labels
    if isinstance(net, ChimeraACVAE):
        system = ChimeraSystem(net, None, None, teacher=CVAE(net.n_labels, net.n_freq))
    else:
        system = (ACVAESystem if isinstance(net, ACVAE) else CVAESystem)(net, None, None)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    system.train()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = system.total_loss(system.loss_terms(x, labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
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
    print("| network | parameters | net fwd+bwd s/step | full training step s (all losses + Adam) |")
    print("|---|---:|---:|---:|")
    for cls in (CVAE, ACVAE, ChimeraACVAE):
        net = cls(args.labels)
        n_params = sum(p.numel() for p in net.parameters())
        net_time = step_time(net, args.batch, args.frames, args.steps)
        full_time = system_step_time(net, args.batch, args.frames, args.steps)
        print(f"| {cls.__name__} | {n_params:,} | {net_time:.2f} | {full_time:.2f} |", flush=True)


if __name__ == "__main__":
    main()
