"""Evaluate separators on a dataset: per-mixture metrics, timing, iteration curves, example wavs.

Outputs in ``out_dir`` (one process) or ``out_dir/shards/`` (one file per shard):

- ``all_metrics.csv``: one row per (method, mixture), appended and flushed as soon as it
  is computed; a rerun skips the pairs already there (resumable). ``all_metrics_settings.json``
  holds a fingerprint per method (model, weights, options, metrics): a rerun whose settings
  of a method changed (e.g. another ``n_iter``) recomputes that method's rows.
- ``curves.jsonl``: one line per (method, mixture) for separators that accept a
  ``callback``: SI-SDR improvement and ``J`` at every iteration.
- ``examples/<mixture>/``: mixture, references and permutation-solved estimates (wav).

Large test sets are sharded by an existing launcher: each process of ``torchrun`` (or of
a Lightning/SLURM job) calls :func:`evaluate` with its ``shard_index``/``num_shards``
(:func:`shard_from_env` reads them from ``RANK``/``WORLD_SIZE``), and :func:`merge_shards`
combines the shard files once all are done.
"""

import csv
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from ..data.datasets import DataError
from ..separation import StftConfig
from ..utils.io import atomic_path, child_path, write_text, write_wav
from ..utils.progress import progress as progress_display
from .curves import IterationTracker
from .metrics import ALL_METRICS, compute_metrics, reorder
from .registry import (
    PostFiltered,
    accepts_callback,
    get_separator,
    is_single_channel,
    needs_references,
    needs_speakers,
)

log = logging.getLogger(__name__)

METRICS_CSV = "all_metrics.csv"
CURVES_JSONL = "curves.jsonl"
KEY_COLUMNS = ("method", "mixture_id")


def shard_from_env() -> Tuple[int, int]:
    """``(shard_index, num_shards)`` from ``RANK``/``WORLD_SIZE`` (set by torchrun and Lightning)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def shard_paths(out_dir, shard_index: int = 0, num_shards: int = 1) -> Tuple[Path, Path]:
    """Where one shard writes its metrics CSV and curves JSONL."""
    out_dir = Path(out_dir)
    if num_shards == 1:
        return out_dir / METRICS_CSV, out_dir / CURVES_JSONL
    tag = f"shard{shard_index:03d}-of-{num_shards:03d}"
    return out_dir / "shards" / f"all_metrics.{tag}.csv", out_dir / "shards" / f"curves.{tag}.jsonl"


def _repair_partial_line(path: Path) -> None:
    """Drop a trailing half-written line left by a killed run."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def _finished_pairs(csv_path: Path) -> set:
    _repair_partial_line(csv_path)
    if not csv_path.exists() or csv_path.stat().st_size == 0:
        return set()
    with open(csv_path, newline="") as f:
        return {(row["method"], row["mixture_id"]) for row in csv.DictReader(f)}


def method_fingerprint(spec, options: dict, metrics_list, ref_mic: int, reference: str = "image") -> str:
    """A short hash of what produces a method's rows: its name or model (class, arguments and
    weights; other callables count by their options only), the separator options (STFT,
    iterations...), the metrics, the reference mic and the references scored against (``"image"``
    or ``"direct"``; image hashes as before the option existed)."""
    import hashlib

    digest = hashlib.sha1()
    if isinstance(spec, str):
        digest.update(spec.encode())
    elif isinstance(spec, PostFiltered):
        digest.update(f"{spec.name} postfilter={spec.postfilter}".encode())
    elif callable(getattr(spec, "get_model_args", None)):  # a model: class, arguments, weights
        digest.update(type(spec).__qualname__.encode())
        digest.update(json.dumps(spec.get_model_args(), sort_keys=True, default=str).encode())
        if isinstance(spec, torch.nn.Module):
            for key, tensor in sorted(spec.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(
        json.dumps({k: v for k, v in options.items() if k != "sample_rate"}, sort_keys=True, default=str).encode()
    )
    digest.update(json.dumps([list(metrics_list), int(ref_mic)]).encode())
    if reference != "image":
        digest.update(f"reference={reference}".encode())
    return digest.hexdigest()[:16]


def _forget_changed_methods(csv_path: Path, curves_path: Path, fingerprints: dict) -> None:
    """Rows (and curves) of methods whose settings changed since they were written are removed,
    so the run recomputes them; the fingerprints are recorded beside the CSV."""
    settings_path = csv_path.with_name(csv_path.stem + "_settings.json")
    stored = json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.exists() else {}
    changed = {name for name, value in fingerprints.items() if name in stored and stored[name] != value}
    if changed and csv_path.exists():
        _repair_partial_line(csv_path)
        frame_lines = csv_path.read_text(encoding="utf-8").splitlines(keepends=True)
        header, rows = frame_lines[:1], list(csv.DictReader(io.StringIO("".join(frame_lines))))
        keep = [line for line, row in zip(frame_lines[1:], rows) if row["method"] not in changed]
        log.warning(
            "settings changed for %s: recomputing their %d rows in %s",
            ", ".join(sorted(changed)),
            len(rows) - len(keep),
            csv_path,
        )
        write_text(csv_path, "".join(header + keep))
        if curves_path.exists():
            lines = curves_path.read_text(encoding="utf-8").splitlines(keepends=True)
            write_text(curves_path, "".join(l for l in lines if json.loads(l).get("method") not in changed))
    write_text(settings_path, json.dumps({**stored, **fingerprints}, indent=1, sort_keys=True) + "\n")


class _RowWriter:
    """Appends CSV rows (header once), flushing each one to disk."""

    def __init__(self, path: Path):
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fields = None
        if path.exists() and path.stat().st_size > 0:
            with open(path, newline="") as f:
                self.fields = next(csv.reader(f))

    def write(self, row: dict) -> None:
        if self.fields is None:
            self.fields = list(row)
            self._append(",".join(self.fields) + "\n")
        extra = sorted(set(row) - set(self.fields))
        if extra:
            raise ValueError(
                f"{self.path} has columns {self.fields}; this run adds {extra}. "
                "Use the same metrics list as the first run, or another output folder."
            )
        buffer = io.StringIO()
        csv.DictWriter(buffer, self.fields, lineterminator="\n").writerow(row)
        self._append(buffer.getvalue())

    def _append(self, text: str) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def _append_jsonl(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _repair_partial_line(path)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _mixture_id(dataset, idx: int) -> str:
    """``dataset.mixture_id(idx)`` (``MixtureDataset``: its CSV's ``mixture_ID``), else the
    ``mixture_ID``/``mixture_id`` or mixture file stem of ``dataset.metadata(idx)``, else ``mix<idx>``."""
    namer = getattr(dataset, "mixture_id", None)
    if callable(namer):
        return str(namer(idx))
    metadata = getattr(dataset, "metadata", None)
    if callable(metadata):
        row = metadata(idx)
        for column in ("mixture_ID", "mixture_id"):  # simulate's spelling, then ours
            value = row.get(column)
            if value is not None and not (isinstance(value, float) and np.isnan(value)):
                return str(value)
        if isinstance(row.get("mixture_path"), str):
            return Path(row["mixture_path"]).stem
    return f"mix{idx:05d}"


def mixture_ids(dataset) -> list:
    """Every mixture's id (:func:`_mixture_id`); ``ValueError`` naming an id two mixtures share
    (they would share an examples folder and a resumed run would skip one)."""
    ids, seen = [], set()
    for idx in range(len(dataset)):
        mixture_id = _mixture_id(dataset, idx)
        if mixture_id in seen:
            raise ValueError(
                f"mixture id {mixture_id!r} is used by two mixtures (the second is item {idx}); "
                "give every mixture its own mixture_ID"
            )
        seen.add(mixture_id)
        ids.append(mixture_id)
    return ids


def _load_item(dataset, idx: int):
    mixture, references = dataset[idx][:2]
    mixture = torch.as_tensor(np.asarray(mixture), dtype=torch.float32)
    references = torch.as_tensor(np.asarray(references), dtype=torch.float32)
    if mixture.dim() != 2 or references.dim() != 2:
        raise ValueError(
            f"Dataset item {idx}: expected mixture [mics, time] and references [src, time]; "
            f"got {tuple(mixture.shape)} and {tuple(references.shape)}."
        )
    if mixture.shape[-1] != references.shape[-1]:
        raise ValueError(
            f"Dataset item {idx}: mixture has {mixture.shape[-1]} samples, references {references.shape[-1]}."
        )
    return mixture, references


def _fit_length(est: torch.Tensor, length: int) -> torch.Tensor:
    if est.shape[-1] >= length:
        return est[..., :length]
    return torch.nn.functional.pad(est, (0, length - est.shape[-1]))


def mixture_speakers(dataset, idx: int, n_src: int):
    """The mixture's speakers ``[speaker_1, ..., speaker_n]`` from ``dataset.metadata(idx)``
    (``simulate`` output), or ``None`` when the dataset does not say."""
    metadata = getattr(dataset, "metadata", None)
    if not callable(metadata):
        return None
    row = metadata(idx)
    speakers = [row.get(f"speaker_{k}") for k in range(1, n_src + 1)]
    return (
        None
        if any(s is None or (isinstance(s, float) and np.isnan(s)) for s in speakers)
        else [str(s) for s in speakers]
    )


def run_separator(
    separator, mixture: torch.Tensor, ref_mic: int = 0, callback=None, references=None, speakers=None
) -> torch.Tensor:
    """Separate one mixture ``[mics, time]`` -> ``[n_src, time]`` (numpy-free, on the input's device).

    ``references [n_src, time]`` (the true images at ``ref_mic``) go to oracle separators only,
    ``speakers`` (the mixture's speaker names) to supervised ones (``needs_speakers``).
    """
    if needs_speakers(separator):
        if speakers is None:
            raise ValueError(
                f"{type(separator).__name__} is supervised: it needs the mixture's speakers "
                f"(speaker_1, speaker_2, ... columns of the mixture metadata)."
            )
        if is_single_channel(separator):
            with torch.no_grad():
                est = separator.forward_wav(mixture[ref_mic][None, None], speakers=speakers)
        else:
            extra = {"callback": callback} if callback is not None else {}
            est = separator.forward_wav(mixture[None], speakers=speakers, **extra)
    elif needs_references(separator):
        if references is None:
            raise ValueError(f"{type(separator).__name__} is an oracle: it needs the true source images.")
        extra = {"callback": callback} if callback is not None else {}
        est = separator.forward_wav(mixture[None], references=references[None], **extra)
    elif is_single_channel(separator):
        with torch.no_grad():
            est = (
                separator.forward_wav(mixture[ref_mic][None])
                if hasattr(separator, "forward_wav")
                else separator(mixture[ref_mic][None])
            )
    else:
        fn = separator.forward_wav if hasattr(separator, "forward_wav") else separator
        est = fn(mixture[None], callback=callback) if callback is not None else fn(mixture[None])
    est = est.detach()
    est = est.reshape(-1, est.shape[-1]) if est.dim() == 3 and est.shape[0] == 1 else est
    if est.dim() != 2:
        raise ValueError(f"Separator returned shape {tuple(est.shape)}; expected [1, n_src, time].")
    return _fit_length(est, mixture.shape[-1])


def _time_call(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def _write_examples(out_dir: Path, mixture_id: str, name: str, mixture, references, estimates, sample_rate):
    folder = child_path(out_dir / "examples", mixture_id)
    if not (folder / "mixture.wav").exists():
        write_wav(folder / "mixture.wav", mixture.cpu().numpy(), sample_rate)
        for k, ref in enumerate(references.cpu().numpy()):
            write_wav(folder / f"reference_s{k}.wav", ref, sample_rate)
    for k, est in enumerate(estimates):
        write_wav(folder / f"{name}_s{k}.wav", est, sample_rate)


def evaluate(
    separators: Dict[str, object],
    dataset,
    out_dir,
    metrics_list: Sequence[str] = ALL_METRICS,
    track_iterations: bool = True,
    n_examples: int = 2,
    sample_rate: Optional[int] = None,
    ref_mic: int = 0,
    stft_config: StftConfig = StftConfig(),
    shard_index: int = 0,
    num_shards: int = 1,
    device: str = "cpu",
    progress: bool = True,
    separator_options: Optional[dict] = None,
) -> Path:
    """Evaluate every separator on every mixture of ``dataset`` (this shard's share).

    Args:
        separators: ``{name: separator}``; a separator is a registered name or model path
            (see :func:`~asteroid_mvae.evaluation.registry.get_separator`; a name is built
            with ``n_src`` = the mixture's number of sources), an asteroid
            BaseModel, or a callable ``[batch, mics, time] -> [batch, n_src, time]``.
        dataset: items ``(mixture [mics, time], references [src, time])``, references being
            the source images at ``ref_mic`` or, for a dataset whose ``reference`` is
            ``"direct"`` (``MixtureDataset(..., reference="direct")``), their direct path plus early
            reflections (the oracles then get those); a changed reference recomputes the rows.
        metrics_list: metrics for :func:`~asteroid_mvae.evaluation.metrics.compute_metrics`.
        track_iterations: record per-iteration SI-SDR improvement and ``J`` for separators
            whose ``forward_wav`` accepts ``callback`` (the tracker's time is not counted).
        n_examples: write wavs for the first ``n_examples`` mixtures of the dataset.
        stft_config: the STFT the iterative separators use (to invert their iterates).
        shard_index, num_shards: this process takes mixtures ``shard_index::num_shards``.
        separator_options: extra options for separators given by name (e.g. ``{"n_iter": 100}``).

    Returns:
        path of this shard's metrics CSV.
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index must be in [0, {num_shards}); got {shard_index}.")
    ids = mixture_ids(dataset)  # every shard's: unique across the whole dataset, checked before any write
    missing = getattr(getattr(dataset, "dataset", dataset), "missing_file", lambda: None)()
    if missing is not None:  # before any output: a run that would stop half-way writes nothing
        raise DataError(f"audio file listed in the metadata is missing: {missing}")
    out_dir = Path(out_dir)
    device = torch.device(device)
    sample_rate = int(sample_rate or getattr(dataset, "sample_rate", 16000))
    options = dict(stft_config=stft_config, ref_mic=ref_mic, sample_rate=sample_rate, **(separator_options or {}))
    resolved = {name: _SeparatorsByNSrc(sep, options, device) for name, sep in separators.items()}
    csv_path, curves_path = shard_paths(out_dir, shard_index, num_shards)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    _forget_changed_methods(
        csv_path,
        curves_path,
        {
            name: method_fingerprint(sep, options, metrics_list, ref_mic, dataset_reference(dataset))
            for name, sep in separators.items()
        },
    )
    done = _finished_pairs(csv_path)
    writer = _RowWriter(csv_path)
    indices = range(shard_index, len(dataset), num_shards)
    for idx in indices[:n_examples]:  # ids from data name folders: refuse any leaving out_dir first
        child_path(out_dir / "examples", ids[idx])
    todo = [(i, name) for i in indices for name in resolved if (name, ids[i]) not in done]
    bar = progress_display(
        total=len(todo), desc=f"evaluate shard {shard_index + 1}/{num_shards}", unit="separation", enabled=progress
    )
    loaded = {}
    for idx, name in todo:
        if idx not in loaded:
            loaded = {idx: _load_item(dataset, idx)}
        mixture, references = (t.to(device) for t in loaded[idx])
        separator = resolved[name].get(references.shape[0])
        row = _evaluate_one(
            name,
            separator,
            mixture,
            references,
            idx,
            ids[idx],
            sample_rate,
            ref_mic,
            stft_config,
            metrics_list,
            track_iterations,
            curves_path,
            out_dir if idx < n_examples else None,
            device,
            mixture_speakers(dataset, idx, references.shape[0]) if needs_speakers(separator) else None,
        )
        writer.write(row)
        bar.update(1)
        bar.set_postfix(method=name, si_sdr_imp=f"{row.get('si_sdr_imp', float('nan')):.2f}")
    bar.close()
    return csv_path


def dataset_reference(dataset) -> str:
    """What a dataset's references are: ``"image"`` (default) or ``"direct"`` (its ``reference``,
    or that of the dataset a subset wraps)."""
    return getattr(dataset, "reference", getattr(getattr(dataset, "dataset", None), "reference", "image"))


class _SeparatorsByNSrc:
    """A separator object as given, or built from its name once per number of sources."""

    def __init__(self, spec, options: dict, device: torch.device):
        self.spec, self.options, self.device, self.built = spec, options, device, {}

    def get(self, n_src: int):
        if not isinstance(self.spec, (str, PostFiltered)):
            return self._prepare(self.spec)
        if n_src not in self.built:
            self.built[n_src] = self._prepare(get_separator(self.spec, n_src=n_src, **self.options))
        return self.built[n_src]

    def _prepare(self, separator):
        if isinstance(separator, torch.nn.Module):
            separator.to(self.device).eval()
        return separator


def _evaluate_one(
    name,
    separator,
    mixture,
    references,
    idx,
    mixture_id,
    sample_rate,
    ref_mic,
    stft_config,
    metrics_list,
    track_iterations,
    curves_path,
    examples_dir,
    device,
    speakers=None,
) -> dict:
    mix_ref = mixture[ref_mic].cpu().numpy()
    refs = references.cpu().numpy()
    tracker = None
    if track_iterations and not is_single_channel(separator) and accepts_callback(separator):
        tracker = IterationTracker(mix_ref, refs, stft_config, ref_mic)
    est, elapsed = _time_call(lambda: run_separator(separator, mixture, ref_mic, tracker, references, speakers), device)
    processing_s = elapsed - (tracker.overhead_s if tracker else 0.0)
    est = est.cpu().numpy().astype(np.float64)
    if est.shape[0] < refs.shape[0]:
        raise ValueError(f"{name} returned {est.shape[0]} sources for mixture {mixture_id} with {refs.shape[0]}.")
    seconds_audio = mixture.shape[-1] / sample_rate
    row = {
        "method": name,
        "mixture_id": mixture_id,
        "index": idx,
        "n_src": refs.shape[0],
        "n_mics": mixture.shape[0],
        "audio_s": seconds_audio,
        "processing_s": processing_s,
        "rtf": processing_s / seconds_audio,
    }
    row.update(compute_metrics(mix_ref, refs, est, sample_rate, metrics_list))
    if tracker is not None:
        curve = tracker.curve()
        row["j_increase_fraction"] = curve["j_increase_fraction"]
        row["n_iter"] = max(curve["iterations"], default=0)
        _append_jsonl(curves_path, {"method": name, "mixture_id": mixture_id, "n_src": refs.shape[0], **curve})
    else:
        row["j_increase_fraction"] = ""
        row["n_iter"] = ""
    if examples_dir is not None:
        _write_examples(examples_dir, mixture_id, name, mixture[ref_mic], references, reorder(est, refs), sample_rate)
    return row


def merge_shards(out_dir, num_shards: Optional[int] = None) -> Path:
    """Combine ``shards/all_metrics.*.csv`` and ``shards/curves.*.jsonl`` into ``out_dir``.

    Raises when a shard file is missing (``num_shards`` given) so an incomplete run is not
    reported as complete.
    """
    out_dir = Path(out_dir)
    shard_dir = out_dir / "shards"
    csvs = sorted(shard_dir.glob("all_metrics.shard*.csv"))
    if num_shards is not None:
        expected = {shard_paths(out_dir, k, num_shards)[0] for k in range(num_shards)}
        missing = sorted(str(p) for p in expected - set(csvs))
        if missing:
            raise FileNotFoundError(f"Missing shard results: {missing}")
        csvs = sorted(expected)
    if not csvs:
        raise FileNotFoundError(f"No shard results under {shard_dir}.")
    import pandas as pd

    for path in csvs:
        _repair_partial_line(path)
    merged = pd.concat([pd.read_csv(p) for p in csvs], ignore_index=True)
    merged = merged.drop_duplicates(list(KEY_COLUMNS), keep="last").sort_values(["method", "index"])
    with atomic_path(out_dir / METRICS_CSV) as tmp:
        merged.to_csv(tmp, index=False)
    lines = []
    for path in sorted(shard_dir.glob("curves.shard*.jsonl")):
        _repair_partial_line(path)
        lines += [line for line in path.read_text().splitlines() if line.strip()]
    write_text(out_dir / CURVES_JSONL, "".join(line + "\n" for line in lines))
    return out_dir / METRICS_CSV
