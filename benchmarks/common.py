"""Shared helpers of the benchmark scripts: simulated test mixtures and timing."""

import tempfile
import time
from pathlib import Path

import torch


def simulated_mixtures(n_src: int, n_mixtures: int, seconds: float, corpus_dir=None, seed: int = 0, out_dir=None):
    """``[(mixture [mics, time], references [src, time]), ...]`` of the paper's room protocol.

    Speech from ``corpus_dir`` (a speaker-folder corpus such as ../shared/data/vcc2018) or the
    built-in synthetic corpus.
    """
    from asteroid_mvae.data.corpora import BuiltinCorpus, FolderCorpus
    from asteroid_mvae.data.datasets import MixtureDataset
    from asteroid_mvae.data.rooms import RoomConfig, simulate_mixtures

    corpus = FolderCorpus(corpus_dir) if corpus_dir else BuiltinCorpus(n_speakers=max(4, n_src), seed=seed)
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="bench_mix_")) / f"n{n_src}"
    simulate_mixtures(
        corpus, out_dir, n_src=n_src, n_mixtures=n_mixtures, seed=seed, config=RoomConfig(duration=seconds)
    )
    dataset = MixtureDataset(out_dir)
    return [dataset[i] for i in range(len(dataset))]


def timed(fn, *args, device=None):
    """``(result, seconds)``; synchronises CUDA around the call."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn(*args)
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def markdown_table(rows, columns):
    """Rows (dicts) as a markdown table with ``columns`` in order."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
