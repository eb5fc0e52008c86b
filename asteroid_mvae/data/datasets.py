"""Torch datasets over the simulated data.

- :class:`SpeakerSpectrogramDataset`: random fixed-length segments of magnitude STFTs with
  speaker labels (training data of the source models: CVAE / ACVAE / ChimeraACVAE).
- :class:`WaveformSpeakerDataset`: the same from waveforms in memory.
- :class:`MixtureDataset`: multichannel mixtures and their reverberant references
  (evaluation and encoder re-training), asteroid style.

Paths in the CSVs are relative to the CSV's folder (absolute paths also work).
"""

import json
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from torch.utils.data import Dataset

from ..separation.stft import StftConfig, stft
from ..separation.stft import stft as _stft  # the parameter `stft` of WaveformSpeakerDataset shadows it
from .audio import DataError


def _resolve_csv(csv_or_dir) -> Path:
    path = Path(csv_or_dir)
    if path.is_dir():
        path = path / "metadata.csv"
    if not path.is_file():
        raise DataError(f"metadata CSV not found: {path}")
    return path


def _read_csv(path: Path, required) -> pd.DataFrame:
    frame = pd.read_csv(path)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {missing}; found {list(frame.columns)}")
    if frame.empty:
        raise DataError(f"{path} has no rows")
    return frame


#: the mixture id column of a mixture CSV: what ``simulate`` writes (asteroid's spelling), then the
#: spelling of our metrics CSVs, also accepted when reading.
MIXTURE_ID_COLUMNS = ("mixture_ID", "mixture_id")


def mixture_ids(frame: pd.DataFrame, source="the mixture CSV") -> list:
    """The id of every row of a mixture CSV (the one reader of them): its ``mixture_ID`` (or
    ``mixture_id``) column, else each ``mixture_path``'s file stem. :class:`DataError` naming
    the first id shared by two rows (ids name output files and resumed work)."""
    column = next((c for c in MIXTURE_ID_COLUMNS if c in frame.columns), None)
    if column is not None:
        if frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise DataError(f"{source}: row {row + 1} has an empty {column}")
        ids = [str(v) for v in frame[column]]
        where = f"the {column} column"
    else:
        ids = [Path(str(p)).stem for p in frame["mixture_path"]]
        where = "the mixture file names (no mixture_ID column)"
    seen = set()
    for mixture_id in ids:
        if mixture_id in seen:
            raise DataError(f"{source}: mixture id {mixture_id!r} appears twice in {where}; ids must be unique")
        seen.add(mixture_id)
    return ids


def read_wav(path: Path, sample_rate: int) -> np.ndarray:
    """float32 ``[channels, time]``; the file must be at ``sample_rate``."""
    if not path.is_file():
        raise DataError(f"audio file listed in the metadata is missing: {path}")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise DataError(f"unreadable audio file {path}: {err}") from err
    if rate != sample_rate:
        raise DataError(f"{path} is at {rate} Hz; expected {sample_rate} Hz")
    return np.ascontiguousarray(data.T)


class SpeakerSpectrogramDataset(Dataset):
    """Random ``segment_frames``-frame segments of magnitude STFTs and speaker labels.

    Item ``i`` is ``(magnitude float32 [n_fft // 2, segment_frames], label int64 [])``: the
    DC bin is dropped (1024 bins for the default 2048-point STFT). Item ``i`` reads row
    ``i // segments_per_utterance`` of the CSV; its segment start is drawn from
    ``(seed, epoch, i)``, so it is reproducible, and :meth:`set_epoch` draws new segments.
    Utterances shorter than a segment are repeated (wrapped) to fill it.

    The label map (speaker -> index over sorted speakers) comes from ``label_map`` (a dict or
    a JSON path), else from ``label_map.json`` beside the CSV, else it is built and written there.

    Args:
        csv_or_dir: a ``simulate_speakers`` output folder or its ``metadata.csv``
            (any CSV with columns ``path`` and ``speaker`` works).
        column: ``"path"`` (reverberant signals) or ``"dry_path"`` (dry signals).
        cache: keep magnitude spectrograms in memory after the first read.
    """

    def __init__(
        self,
        csv_or_dir,
        segment_frames: int = 128,
        stft: StftConfig = StftConfig(),
        seed: int = 0,
        label_map: Union[None, str, Path, Dict[str, int]] = None,
        column: str = "path",
        segments_per_utterance: int = 1,
        sample_rate: int = 16000,
        cache: bool = False,
    ):
        self.csv_path = _resolve_csv(csv_or_dir)
        self.root = self.csv_path.parent
        self.frame = _read_csv(self.csv_path, [column, "speaker"])
        self.frame["speaker"] = self.frame["speaker"].astype(str)
        if segment_frames < 1 or segments_per_utterance < 1:
            raise DataError("segment_frames and segments_per_utterance must be positive")
        self.segment_frames, self.stft_config, self.seed = int(segment_frames), stft, int(seed)
        self.column, self.segments_per_utterance = column, int(segments_per_utterance)
        self.sample_rate, self.cache, self.epoch = int(sample_rate), cache, 0
        self._cache: Dict[int, torch.Tensor] = {}
        self.label_map = self._label_map(label_map)
        self.utterance_labels = self.frame["speaker"].map(self.label_map).to_numpy(np.int64)
        #: label of every item (length ``len(self)``), for speaker-balanced samplers
        self.labels = np.repeat(self.utterance_labels, self.segments_per_utterance)

    def _label_map(self, label_map) -> Dict[str, int]:
        beside = self.root / "label_map.json"
        if isinstance(label_map, (str, Path)):
            label_map = json.loads(Path(label_map).read_text(encoding="utf-8"))
        elif label_map is None and beside.is_file():
            label_map = json.loads(beside.read_text(encoding="utf-8"))
        elif label_map is None:
            label_map = {spk: i for i, spk in enumerate(sorted(self.frame["speaker"].unique()))}
            from ..utils.io import write_text

            write_text(beside, json.dumps(label_map, indent=2) + "\n")
        label_map = {str(k): int(v) for k, v in label_map.items()}
        unknown = sorted(set(self.frame["speaker"]) - set(label_map))
        if unknown:
            raise DataError(f"speakers {unknown[:5]} of {self.csv_path} are not in the label map")
        return label_map

    @property
    def n_speakers(self) -> int:
        return len(self.label_map)

    def set_epoch(self, epoch: int) -> None:
        """Draw other segments (item ``i`` then depends on ``(seed, epoch, i)``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.frame) * self.segments_per_utterance

    def magnitude(self, row: int) -> torch.Tensor:
        """Full magnitude spectrogram of one CSV row: ``[n_fft // 2, frames]`` (DC dropped)."""
        if row in self._cache:
            return self._cache[row]
        path = self.root / self.frame[self.column].iloc[row]
        wav = read_wav(path, self.sample_rate)
        if wav.shape[0] != 1:
            raise DataError(f"{path} has {wav.shape[0]} channels; speaker data must be mono")
        mag = stft(torch.from_numpy(wav[0]), self.stft_config).abs()[1:].float()
        if self.cache:
            self._cache[row] = mag
        return mag

    def __getitem__(self, idx: int):
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        mag = self.magnitude(idx // self.segments_per_utterance)
        n_frames = mag.shape[-1]
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        if n_frames < self.segment_frames:
            reps = -(-self.segment_frames // n_frames)
            mag, n_frames = mag.repeat(1, reps), n_frames * reps
        start = int(rng.integers(0, n_frames - self.segment_frames + 1))
        segment = mag[:, start : start + self.segment_frames].contiguous()
        return segment, torch.tensor(self.labels[idx], dtype=torch.int64)


class WaveformSpeakerDataset(SpeakerSpectrogramDataset):
    """:class:`SpeakerSpectrogramDataset` over waveforms in memory (no CSV, no files): item ``i`` is a
    random segment of utterance ``i // segments_per_utterance``'s magnitude STFT and its label.

    Args:
        waveforms: 1-D float arrays or tensors, one per utterance (at the STFT's rate).
        speakers: the speaker of each utterance. label_map: speaker -> index (default: sorted).
        segment_frames, stft, seed, segments_per_utterance: as :class:`SpeakerSpectrogramDataset`.
    """

    def __init__(
        self,
        waveforms,
        speakers,
        segment_frames: int = 128,
        stft: StftConfig = StftConfig(),
        seed: int = 0,
        label_map: Optional[Dict[str, int]] = None,
        segments_per_utterance: int = 1,
    ):
        if len(waveforms) != len(speakers) or not waveforms:
            raise DataError(f"need one speaker per waveform; got {len(waveforms)} waveforms, {len(speakers)} speakers")
        if segment_frames < 1 or segments_per_utterance < 1:
            raise DataError("segment_frames and segments_per_utterance must be positive")
        self.segment_frames, self.stft_config, self.seed = int(segment_frames), stft, int(seed)
        self.segments_per_utterance, self.epoch, self.cache = int(segments_per_utterance), 0, True
        speakers = [str(s) for s in speakers]
        self.label_map = (
            {str(k): int(v) for k, v in label_map.items()}
            if label_map
            else {spk: i for i, spk in enumerate(sorted(set(speakers)))}
        )
        unknown = sorted(set(speakers) - set(self.label_map))
        if unknown:
            raise DataError(f"speakers {unknown[:5]} are not in the label map")
        self._cache = {
            row: _stft(torch.as_tensor(np.asarray(w), dtype=torch.float32), stft).abs()[1:]
            for row, w in enumerate(waveforms)
        }
        self.frame = pd.DataFrame({"speaker": speakers})
        self.utterance_labels = np.array([self.label_map[s] for s in speakers], dtype=np.int64)
        self.labels = np.repeat(self.utterance_labels, self.segments_per_utterance)


class MixtureDataset(Dataset):
    """Multichannel mixtures and reverberant references over a ``simulate_mixtures`` CSV.

    Item ``i`` is ``(mixture float32 [mics, time], references float32 [src, time])``, the
    references being each source's reverberant image at ``ref_mic`` (``reference="image"``: what
    BSS with projection back to ``ref_mic`` estimates) or its direct path plus early reflections
    there (``reference="direct"``: the target of dereverberation; the ``direct_<k>_path`` files of
    ``simulate_mixtures``).
    """

    dataset_name = "asteroid-mvae simulated reverberant mixtures"
    REFERENCES = {"image": "source", "direct": "direct"}  #: reference -> prefix of its CSV columns

    def __init__(self, csv_path, ref_mic: int = 0, sample_rate: int = 16000, reference: str = "image"):
        if reference not in self.REFERENCES:
            raise DataError(f"reference must be one of {', '.join(self.REFERENCES)}; got {reference!r}")
        self.csv_path = _resolve_csv(csv_path)
        self.root = self.csv_path.parent
        self.frame = _read_csv(self.csv_path, ["mixture_path", "source_1_path"])
        self.n_src = sum(1 for c in self.frame.columns if c.startswith("source_") and c.endswith("_path"))
        missing = [f"direct_{k}_path" for k in range(1, self.n_src + 1) if f"direct_{k}_path" not in self.frame.columns]
        if reference == "direct" and missing:
            raise DataError(
                f"{self.csv_path} has no direct-path references (no {missing[0]} column); simulate it "
                f"again with asteroid-mvae simulate, or score against the images (--reference image)"
            )
        self.reference = reference
        self.ref_mic, self.sample_rate = int(ref_mic), int(sample_rate)
        settings = self.root / "settings.json"
        self.settings = json.loads(settings.read_text(encoding="utf-8")) if settings.is_file() else {}

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ids(self) -> list:
        """Every mixture's id (:func:`mixture_ids`; checked unique when first read)."""
        if getattr(self, "_ids_frame", None) is not self.frame:  # read once per frame
            self._ids, self._ids_frame = mixture_ids(self.frame, self.csv_path), self.frame
        return self._ids

    def missing_file(self):
        """The first audio file the CSV lists that does not exist (``None`` when all do)."""
        for column in [c for c in self.frame.columns if c.endswith("_path")]:
            for value in self.frame[column]:
                if isinstance(value, str) and value and not (self.root / value).is_file():
                    return self.root / value
        return None

    def mixture_id(self, idx: int) -> str:
        """Mixture ``idx``'s id: the CSV's ``mixture_ID`` (or ``mixture_id``), else its file stem."""
        return self.ids[idx]

    def metadata(self, idx: int) -> dict:
        """The CSV row of item ``idx`` (paths resolved against the CSV's folder)."""
        row = self.frame.iloc[idx].to_dict()
        return {k: str(self.root / v) if k.endswith("_path") and isinstance(v, str) else v for k, v in row.items()}

    def __getitem__(self, idx: int):
        row = self.frame.iloc[idx]
        mix_path = self.root / row["mixture_path"]
        mixture = read_wav(mix_path, self.sample_rate)
        if not 0 <= self.ref_mic < mixture.shape[0]:
            raise DataError(f"ref_mic {self.ref_mic} is out of range: {mix_path} has {mixture.shape[0]} channel(s)")
        references = []
        for k in range(1, self.n_src + 1):
            path = self.root / row[f"{self.REFERENCES[self.reference]}_{k}_path"]
            image = read_wav(path, self.sample_rate)
            if image.shape != mixture.shape:
                raise DataError(f"{path} has shape {image.shape}; the mixture {mix_path} has {mixture.shape}")
            references.append(image[self.ref_mic])
        return torch.from_numpy(mixture), torch.from_numpy(np.stack(references))

    def get_infos(self) -> dict:
        """Dataset description in asteroid's format (``dataset``, ``task``, ``licenses``)."""
        corpus = self.settings.get("corpus", {}).get("name", "unknown")
        return {
            "dataset": self.dataset_name,
            "task": "sep_reverb",
            "corpus": corpus,
            "n_src": self.n_src,
            "ref_mic": self.ref_mic,
            "reference": self.reference,
            "licenses": [CORPUS_LICENSES.get(corpus, UNKNOWN_LICENSE)],
        }


UNKNOWN_LICENSE = {"title": "user corpus", "license": "see the corpus", "non_commercial": None}
CORPUS_LICENSES = {
    "wsj0": {
        "title": "CSR-I (WSJ0) Complete",
        "title_link": "https://catalog.ldc.upenn.edu/LDC93S6A",
        "author": "LDC",
        "license": "LDC User Agreement for Non-Members",
        "non_commercial": True,
    },
    "jvs": {
        "title": "JVS corpus",
        "title_link": "https://sites.google.com/site/shinnosuketakamichi/research-topics/jvs_corpus",
        "author": "Takamichi et al.",
        "license": "CC BY-SA 4.0 (text), research use (audio)",
        "non_commercial": True,
    },
    "builtin": {
        "title": "asteroid-mvae synthetic speakers",
        "author": "asteroid-mvae",
        "license": "MIT",
        "non_commercial": False,
    },
}


class MixtureSubset:
    """Some mixtures of a ``MixtureDataset`` (``indices``), keeping its ``metadata`` for mixture ids."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)
        self.sample_rate = dataset.sample_rate

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.dataset[self.indices[i]]

    def metadata(self, i):
        return self.dataset.metadata(self.indices[i])

    def mixture_id(self, i) -> str:
        return self.dataset.mixture_id(self.indices[i])
