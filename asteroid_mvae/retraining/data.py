"""Stage 1 of encoder re-training: the imperfectly separated signals FastMVAE2 itself produces.

For every mixture, FastMVAE2 (a trained ChimeraACVAE) runs ``n_iter`` iterations and the
power of every output at every iteration ``0..n_iter`` is stored **in the network's input
domain**, i.e. exactly what the encoder sees at the next source-model update::

    x_{i,n} = network_input(|Y_n^{(i)}|^2)   # magnitude, DC dropped, unit RMS: [n_freq, frames]

(``asteroid_mvae.separation.deep.network_input``), as float16. The re-training target
power is ``x**2``; the closed-form scale ``g`` of the loss makes the unit-RMS choice
irrelevant. With ``store_clean`` the true source images at the reference microphone are
stored the same way (``network_input(|S_m|^2)``) with, for every iteration, the
permutation ``perm[i, n] = m`` matching output ``n`` to source ``m`` (best total cosine
similarity of magnitudes): the oracle variant's targets.

Layout of ``out_dir``::

    settings.json          network, STFT, n_iter, store_clean (a rerun with others is refused)
    shards/<item>.pt       one mixture: {"inputs" f16 [n_iter+1, src, n_freq, frames],
                           "clean" f16 [src, n_freq, frames], "perm" int64 [n_iter+1, src],
                           "objective" f64 [n_iter+1], "meta": {...}}
    index.json             list of finished shards with their metadata (rewritten at the end)

Item ids are ``<csv tag>-<mixture id>``; a rerun skips items whose shard exists (resume).
"""

import json
import os
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..compat import plain
from ..separation import StftConfig, separate, stft
from ..separation.deep import ChimeraSource, network_input
from ..utils.io import child_path, save_torch, write_text
from ..utils.progress import progress as progress_display
from ..utils.safe_load import load_tensors

STORAGE_DTYPE = torch.float16
INDEX = "index.json"
SETTINGS = "settings.json"


def best_permutation(outputs: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Output -> source assignment maximising the summed cosine similarity of magnitudes.

    Args:
        outputs, clean: ``[src, n_freq, frames]`` magnitudes.
    Returns:
        int64 ``[src]``: ``perm[n]`` is the source of output ``n``.
    """
    from scipy.optimize import linear_sum_assignment

    a = outputs.flatten(1).double()
    b = clean.flatten(1).double()
    similarity = (a / a.norm(dim=1, keepdim=True).clamp_min(1e-30)) @ (
        b / b.norm(dim=1, keepdim=True).clamp_min(1e-30)
    ).T
    rows, cols = linear_sum_assignment(-similarity.cpu().numpy())
    perm = torch.empty(len(rows), dtype=torch.int64)
    perm[torch.as_tensor(rows)] = torch.as_tensor(cols, dtype=torch.int64)
    return perm


def run_and_record(
    network,
    mixture: torch.Tensor,
    n_iter: int,
    stft_config: StftConfig,
    clean: Optional[torch.Tensor] = None,
    update: str = "ip1",
) -> dict:
    """Run FastMVAE2 on one mixture ``[mics, time]`` and record every iterate's encoder input.

    ``clean``: optional source images at the reference microphone ``[src, time]``.
    Returns the shard dict (see the module docstring).
    """
    n_src = mixture.shape[0]
    X = stft(mixture.float(), stft_config)[None]  # [1, mics, freq, frames]
    if X.shape[2] - 1 != network.n_freq:
        raise ValueError(
            f"the network models n_freq={network.n_freq} bins but the STFT (n_fft={stft_config.n_fft}) "
            f"gives {X.shape[2] - 1}; use n_fft={2 * network.n_freq}"
        )
    clean_x = None
    if clean is not None:
        clean_x = network_input(stft(clean.float(), stft_config).abs().pow(2)[None])  # [src, n_freq, frames]
    inputs, perms = [], []

    def record(state):
        x = network_input(state.outputs.abs().pow(2))  # [src, n_freq, frames]: what the encoder sees next
        inputs.append(x.to(STORAGE_DTYPE).cpu())
        if clean_x is not None:
            perms.append(best_permutation(x, clean_x))

    with torch.no_grad():
        result = separate(
            X, ChimeraSource(network.eval()), n_iter=n_iter, update=update, proj_back=False, callback=record
        )
    shard = {"inputs": torch.stack(inputs), "objective": result.objective[:, 0].double().cpu()}
    if clean_x is not None:
        shard["clean"] = clean_x.to(STORAGE_DTYPE).cpu()
        shard["perm"] = torch.stack(perms)
    shard["meta"] = {"n_src": int(n_src), "n_frames": int(X.shape[-1]), "n_iter": int(n_iter)}
    return shard


def estimate_bytes(n_items_by_src: dict, n_iter: int, n_freq: int, n_frames: int, store_clean: bool) -> int:
    """Storage of the shards: ``{n_src: n_mixtures}`` mixtures of ``n_frames`` frames."""
    per_value = torch.finfo(STORAGE_DTYPE).bits // 8
    total = 0
    for n_src, count in n_items_by_src.items():
        values = (n_iter + 1 + (1 if store_clean else 0)) * n_src * n_freq * n_frames
        total += count * values * per_value
    return total


def _prepare(out_dir: Path, settings: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SETTINGS
    text = json.dumps(settings, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") != text:
        raise ValueError(
            f"{out_dir} holds re-training data made with other settings ({path}); "
            "use another output folder or delete it"
        )
    (out_dir / "shards").mkdir(exist_ok=True)
    for name in os.listdir(out_dir / "shards"):  # temp files of a killed run
        if name.startswith(".") and ".tmp" in name:
            os.remove(out_dir / "shards" / name)
    if not path.exists():
        write_text(path, text)


def _item_work(network_package, stft_args, n_iter, store_clean, csv_path, row_index, shard_path, threads):
    """One mixture -> one shard file (runs in a worker process with ``jobs > 1``)."""
    from ..data.datasets import MixtureDataset
    from ..networks import load_network_package

    if threads:
        torch.set_num_threads(threads)
    network, _ = load_network_package(network_package)
    dataset = MixtureDataset(csv_path)
    mixture, references = dataset[row_index]
    shard = run_and_record(
        network, mixture[: dataset.n_src], n_iter, StftConfig(*stft_args), references if store_clean else None
    )
    shard["meta"].update(csv=str(csv_path), row=int(row_index), mixture_id=dataset.mixture_id(row_index))
    save_torch(plain(shard), shard_path)
    return shard["meta"]


def generate_retraining_data(
    network_package,
    mixture_csvs: Sequence,
    out_dir,
    n_iter: int = 30,
    store_clean: bool = False,
    stft_config: Optional[StftConfig] = None,
    jobs: int = 1,
    seed: int = 0,
    max_mixtures: Optional[int] = None,
    progress: bool = True,
) -> Path:
    """Run FastMVAE2 over every mixture of ``mixture_csvs`` and store its iterates (resumable).

    Args:
        network_package: trained ChimeraACVAE package (``asteroid-mvae train --model chimera``).
        mixture_csvs: ``simulate_mixtures`` CSVs (mixtures of TRAINING speakers; any N).
        out_dir: output folder (see the module docstring).
        n_iter: FastMVAE2 iterations; iterates ``0..n_iter`` are stored.
        store_clean: also store the true source powers and permutations (oracle variant).
        stft_config: default ``n_fft = 2 * n_freq`` of the network, hop ``n_fft / 2``, Hamming.
        jobs: worker processes (each item is independent: any ``jobs`` gives the same files).
        seed: recorded only (FastMVAE2 is deterministic); kept for the settings check.
        max_mixtures: use at most this many mixtures per CSV.
    Returns:
        path of ``index.json``.
    """
    from ..data.datasets import MixtureDataset
    from ..models.arguments import check_args
    from ..networks import ChimeraACVAE, load_network_package

    n_iter = check_args("generate_retraining_data", n_iter=n_iter)["n_iter"]  # bounded: iterates are stored
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1; got {jobs}")
    network, package = load_network_package(network_package)
    if not isinstance(network, ChimeraACVAE):
        raise ValueError(f"{network_package} holds a {package['network']}; re-training needs a ChimeraACVAE package")
    stft_config = stft_config or StftConfig(2 * network.n_freq, network.n_freq)
    out_dir = Path(out_dir)
    settings = {
        "network_package": str(Path(network_package).resolve()),
        "n_freq": network.n_freq,
        "n_labels": network.n_labels,
        "stft": [stft_config.n_fft, stft_config.hop_length, stft_config.window],
        "n_iter": int(n_iter),
        "store_clean": bool(store_clean),
        "seed": int(seed),
        "storage": "network_input(|Y|^2) magnitude, float16",
        "label_map": package["label_map"],
    }
    items = []  # (csv, row, item id)
    for k, csv_path in enumerate(mixture_csvs):
        dataset = MixtureDataset(csv_path)
        ids = dataset.ids  # the one reader of mixture ids: unique, or a DataError naming the repeated one
        tag = f"{k:02d}_{dataset.n_src}src"
        count = len(dataset) if max_mixtures is None else min(len(dataset), int(max_mixtures))
        items += [(str(dataset.csv_path), i, f"{tag}-{ids[i]}", dataset.n_src, dataset) for i in range(count)]
    for item in items:  # ids from CSVs name the shard files: refuse any leaving the shards folder
        child_path(out_dir / "shards", item[2], ".pt")
    _prepare(out_dir, settings)
    _print_estimate(items, n_iter, network.n_freq, stft_config, store_clean)

    todo = [it for it in items if not (out_dir / "shards" / f"{it[2]}.pt").exists()]
    args = (str(network_package), (stft_config.n_fft, stft_config.hop_length, stft_config.window), n_iter, store_clean)
    bar = progress_display(
        total=len(items), initial=len(items) - len(todo), desc="re-training data", unit="mixture", enabled=progress
    )
    if jobs == 1 or len(todo) <= 1:
        for csv_path, row, item_id, _, _ in todo:
            _item_work(*args, csv_path, row, out_dir / "shards" / f"{item_id}.pt", 0)
            bar.update(1)
    else:
        from joblib import Parallel, delayed

        threads = max(1, (os.cpu_count() or 1) // jobs)
        calls = (delayed(_item_work)(*args, c, r, out_dir / "shards" / f"{i}.pt", threads) for c, r, i, _, _ in todo)
        for _ in Parallel(n_jobs=jobs, return_as="generator_unordered")(calls):
            bar.update(1)
    bar.close()
    return write_index(out_dir, [it[2] for it in items])


def _print_estimate(items, n_iter, n_freq, stft_config: StftConfig, store_clean: bool) -> None:
    by_src, frames = {}, []
    for csv_path, row, _, n_src, dataset in items:
        by_src[n_src] = by_src.get(n_src, 0) + 1
    for csv_path, row, _, n_src, dataset in items[:1]:
        length = int(dataset.frame["length"].iloc[row]) if "length" in dataset.frame else None
        if length is None:
            length = dataset[row][0].shape[-1]
        frames.append(length // stft_config.hop_length + 1)
    n_frames = frames[0] if frames else 0
    size = estimate_bytes(by_src, n_iter, n_freq, n_frames, store_clean)
    print(
        f"re-training data: {len(items)} mixtures ({', '.join(f'N={n}: {c}' for n, c in sorted(by_src.items()))}), "
        f"{n_iter + 1} iterates each, ~{n_frames} frames x {n_freq} bins, float16: about {size / 2**20:.1f} MiB",
        flush=True,
    )


def write_index(out_dir, item_ids: Sequence[str]) -> Path:
    """Write ``index.json`` listing the finished shards (with their metadata)."""
    out_dir = Path(out_dir)
    entries = []
    for item_id in item_ids:
        path = out_dir / "shards" / f"{item_id}.pt"
        if path.exists():
            meta = load_tensors(path, what="re-training shard")["meta"]
            entries.append({"id": item_id, "file": f"shards/{item_id}.pt", **meta})
    settings = json.loads((out_dir / SETTINGS).read_text(encoding="utf-8"))
    write_text(out_dir / INDEX, json.dumps({"settings": settings, "items": entries}, indent=1) + "\n")
    return out_dir / INDEX


def read_index(data_dir) -> dict:
    path = Path(data_dir) / INDEX
    if not path.is_file():
        raise FileNotFoundError(f"re-training data index not found: {path} (run asteroid-mvae retrain-data first)")
    return json.loads(path.read_text(encoding="utf-8"))


def split_items(item_ids: List[str], val_fraction: float, seed: int):
    """Mixture-level split ``(train_ids, val_ids)``: all iterates of a mixture stay together."""
    ids = sorted(item_ids)
    order = np.random.default_rng(seed).permutation(len(ids))
    n_val = 0 if val_fraction <= 0 or len(ids) < 2 else min(len(ids) - 1, max(1, round(val_fraction * len(ids))))
    val = sorted(ids[i] for i in order[:n_val])
    return sorted(set(ids) - set(val)), val


class RetrainingDataset(torch.utils.data.Dataset):
    """Samples ``(x [n_freq, frames], target_power [n_freq, frames], weight [])`` of stage-1 shards.

    One sample is one output ``n`` of one mixture at one iteration ``i``: ``x`` is the
    encoder input; the target power is ``x**2`` (self-supervised) or, with ``oracle``, the
    true source power of the best-matching source (``clean[perm[i, n]]**2``). With
    ``segment_frames`` a random (seeded per epoch and sample) segment is cut; ``None``
    keeps whole spectrograms (then batch samples of equal length only).

    Args:
        data_dir: stage-1 output folder.
        item_ids: mixtures to use (default: all in ``index.json``).
        iterations: iterations to use (default: all stored).
        oracle: use the true source powers as targets (needs ``store_clean`` data).
        early_iterations, early_weight: samples of iterations ``< early_iterations`` get the
            loss weight ``early_weight`` (others 1).
    """

    def __init__(
        self,
        data_dir,
        item_ids=None,
        iterations=None,
        oracle: bool = False,
        segment_frames: Optional[int] = 128,
        seed: int = 0,
        early_iterations: int = 0,
        early_weight: float = 1.0,
    ):
        self.data_dir = Path(data_dir)
        index = read_index(self.data_dir)
        self.settings = index["settings"]
        entries = {e["id"]: e for e in index["items"]}
        item_ids = sorted(entries) if item_ids is None else list(item_ids)
        missing = [i for i in item_ids if i not in entries]
        if missing:
            raise ValueError(f"items {missing[:3]} are not in {self.data_dir / INDEX}")
        if oracle and not self.settings["store_clean"]:
            raise ValueError(f"{self.data_dir} has no clean powers: regenerate it with store_clean (--oracle)")
        n_iter = int(self.settings["n_iter"])
        self.iterations = list(range(n_iter + 1)) if iterations is None else [int(i) for i in iterations]
        bad = [i for i in self.iterations if not 0 <= i <= n_iter]
        if bad:
            raise ValueError(f"iterations {bad} are outside the stored 0..{n_iter}")
        self.oracle, self.segment_frames, self.seed, self.epoch = oracle, segment_frames, int(seed), 0
        self.early_iterations, self.early_weight = int(early_iterations), float(early_weight)
        self.shards = [  # mapped, not read: thousands of mixtures' iterates exceed the memory
            load_tensors(self.data_dir / entries[i]["file"], what="re-training shard", mmap=True) for i in item_ids
        ]
        self.item_ids = item_ids
        self.samples = [
            (s, it, n)
            for s, shard in enumerate(self.shards)
            for it in self.iterations
            for n in range(shard["inputs"].shape[1])
        ]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, idx: int):
        s, it, n = self.samples[idx]
        shard = self.shards[s]
        x = shard["inputs"][it, n].float()
        target = shard["clean"][shard["perm"][it, n]].float() if self.oracle else x
        if self.segment_frames is not None and x.shape[-1] < self.segment_frames:  # tile short ones
            reps = -(-self.segment_frames // x.shape[-1])
            x, target = x.repeat(1, reps), target.repeat(1, reps)
        if self.segment_frames is not None:
            rng = np.random.default_rng([self.seed, self.epoch, idx])
            start = int(rng.integers(0, x.shape[-1] - self.segment_frames + 1))
            x = x[:, start : start + self.segment_frames]
            target = target[:, start : start + self.segment_frames]
        weight = self.early_weight if it < self.early_iterations else 1.0
        return x.contiguous(), target.pow(2).contiguous(), torch.tensor(weight, dtype=torch.float32)
