"""Reverberant room simulation (pyroomacoustics image source method), the MVAE papers' protocol.

Default protocol: a shoebox room with RT60 = 0.3 s (absorption and reflection order from
inverse Sabine), a circular array of ``M = N`` microphones of radius 0.1 m, ``N`` sources at
random azimuths on a 2.5 m circle around the array, at array height, 16 kHz, 10-s signals
made by concatenating utterances of one speaker.

Geometry note: the papers' text states an 8 x 5 x 3 m room, but a 2.5 m circle around its
centre reaches y = 0 and y = 5 m, i.e. the walls. The authors' code used an 8 x 6 m room with
the array at (3, 3). Our default is an 8 x 6 x 3 m room with the array at its centre
(4, 3, 1.5): every source stays at least 0.5 m from every wall. Every value is configurable.

Outputs of :func:`simulate_mixtures` (all paths in the CSV are relative to its folder)::

    out/metadata.csv        one row per mixture (asteroid style: mixture_path, source_k_path, ...)
    out/settings.json       the settings; a rerun with other settings in the same folder is refused
    out/mix/<id>.wav        the mixture, [mics, time]
    out/s<k>/<id>.wav       source k's reverberant image at every microphone, [mics, time]
    out/direct<k>/<id>.wav  source k's direct path plus early reflections (its impulse responses cut
                            ``early_ms`` after their direct-path peak) at every microphone, [mics, time]:
                            the target of dereverberation (``evaluate --reference direct``)
    out/dry<k>/<id>.wav     source k's dry signal, [time]
    out/noise/<id>.wav      the diffuse noise, [mics, time] (only with noise_snr_db)
    out/rows/<id>.json      per-item completion record (resume: finished items are skipped)

``mixture = sum_k s<k> (+ noise)`` exactly up to float32 rounding (files are float32 wav).
"""

import contextlib
import dataclasses
import json
import multiprocessing
import os
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import pyroomacoustics as pra
from scipy.signal import fftconvolve
from scipy.signal import istft as sp_istft
from scipy.signal import stft as sp_stft

from ..utils.io import make_writable_folder, write_text, write_wav
from ..utils.progress import progress
from .audio import AudioReadError, DataError
from .corpora import Corpus

SPEED_OF_SOUND = 343.0
MAX_IMAGE_ORDER = 120


CLI_FLAGS = {
    "room_dim": "--room",
    "rt60": "--rt60",
    "n_mics": "--n-mics",
    "mic_radius": "--mic-radius",
    "source_distance": "--source-distance",
    "array_center": "--array-center",
    "array_height": "--array-height",
    "source_height": "--source-height",
    "min_separation_deg": "--min-separation",
    "min_wall_distance": "--min-wall-distance",
    "duration": "--duration",
    "noise_snr_db": "--snr",
    "max_order": "--max-order",
    "early_ms": "--early-ms",
}  #: simulate's options
MIN_DURATION_S = 0.1  #: shortest simulated signal (seconds)
MAX_DURATION_S = 3600.0  #: longest simulated signal: an hour per item already needs GBs per mixture
MAX_EARLY_MS = 1000.0  #: longest early part of the direct-path references (milliseconds)


@dataclass(frozen=True)
class RoomConfig:
    """Every parameter of the simulation; defaults are the papers' protocol (see module doc)."""

    room_dim: Tuple[float, float, float] = (8.0, 6.0, 3.0)  #: metres
    rt60: Union[float, Tuple[float, float]] = 0.3  #: seconds, or a (low, high) range drawn per item
    n_mics: Optional[int] = None  #: None: as many microphones as sources
    mic_radius: float = 0.1  #: circular array radius, metres
    source_distance: float = 2.5  #: radius of the source circle around the array centre
    array_center: Optional[Tuple[float, float]] = None  #: (x, y); None: centre of the floor plan
    array_height: float = 1.5
    source_height: Optional[float] = None  #: None: the array height
    min_separation_deg: float = 20.0  #: minimum azimuth difference between sources
    min_wall_distance: float = 0.5  #: every source and microphone at least this far from walls
    sample_rate: int = 16000
    duration: float = 10.0  #: seconds per signal (utterances of one speaker concatenated)
    noise_snr_db: Optional[float] = None  #: diffuse (spherically isotropic) white noise; None: none
    source_gain_db: Tuple[float, float] = (0.0, 0.0)  #: per-source level range (dry signals at equal RMS + gain)
    min_utterance_s: float = 0.5  #: shorter utterances are skipped
    max_order: Optional[int] = None  #: image source order; None: from inverse Sabine
    peak: float = 0.9  #: each item is scaled so that its mixture peaks here
    early_ms: float = 50.0  #: the direct-path references keep this much of each RIR after its peak

    def __post_init__(self):
        object.__setattr__(self, "room_dim", tuple(float(v) for v in self.room_dim))
        rt60 = self.rt60
        object.__setattr__(
            self, "rt60", tuple(float(v) for v in rt60) if isinstance(rt60, (list, tuple)) else float(rt60)
        )
        if self.array_center is not None:
            object.__setattr__(self, "array_center", tuple(float(v) for v in self.array_center))
        object.__setattr__(self, "source_gain_db", tuple(float(v) for v in self.source_gain_db))

    @property
    def rt60_range(self) -> Tuple[float, float]:
        return self.rt60 if isinstance(self.rt60, tuple) else (self.rt60, self.rt60)

    @property
    def center(self) -> np.ndarray:
        """Array centre ``[3]``."""
        x, y = self.array_center if self.array_center is not None else (self.room_dim[0] / 2, self.room_dim[1] / 2)
        return np.array([x, y, self.array_height])

    def mics_for(self, n_src: int) -> int:
        return n_src if self.n_mics is None else int(self.n_mics)

    def _numbers(self):
        """``(field name, value)`` of every number of the configuration (tuples flattened)."""
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            for v in value if isinstance(value, tuple) else (value,):
                if v is not None:
                    yield item.name, float(v)

    def validate(self, n_src: int) -> None:
        """Raise :class:`DataError` (one line) for impossible settings."""
        for name, value in self._numbers():
            if not np.isfinite(value):
                flag = f" ({CLI_FLAGS[name]})" if name in CLI_FLAGS else ""
                raise DataError(f"{name}{flag} must be a finite number; got {value}")
        dim = np.array(self.room_dim)
        if dim.shape != (3,) or np.any(dim <= 0):
            raise DataError(f"room_dim must be three positive lengths in metres; got {self.room_dim}")
        if n_src < 1:
            raise DataError(f"n_src must be at least 1; got {n_src}")
        if self.mics_for(n_src) < 1:
            raise DataError(f"n_mics must be at least 1; got {self.n_mics}")
        if self.sample_rate <= 0:
            raise DataError(f"sample_rate must be positive; got {self.sample_rate} Hz")
        if not MIN_DURATION_S <= self.duration <= MAX_DURATION_S:
            raise DataError(
                f"duration (--duration) must be within [{MIN_DURATION_S}, {MAX_DURATION_S}] s per signal; "
                f"got {self.duration} s"
            )
        if self.mic_radius < 0 or self.source_distance <= self.mic_radius:
            raise DataError(
                f"sources must lie outside the array: source_distance {self.source_distance} m "
                f"<= mic_radius {self.mic_radius} m"
            )
        if n_src * self.min_separation_deg > 360:
            raise DataError(f"{n_src} sources cannot be {self.min_separation_deg} degrees apart on a circle")
        lo, hi = self.rt60_range
        if not 0 < lo <= hi:
            raise DataError(f"rt60 must be positive (and low <= high for a range); got {self.rt60}")
        if self.noise_snr_db is not None and not -30.0 <= float(self.noise_snr_db) <= 120.0:
            raise DataError(
                f"noise_snr_db (--snr) must be a finite SNR in [-30, 120] dB, or None for no noise; "
                f"got {self.noise_snr_db}"
            )
        if self.max_order is not None and (int(self.max_order) != self.max_order or self.max_order < 0):
            raise DataError(f"max_order (--max-order) must be an image-source order >= 0; got {self.max_order}")
        if not 0 <= self.early_ms <= MAX_EARLY_MS:
            raise DataError(f"early_ms (--early-ms) must be within [0, {MAX_EARLY_MS:g}] ms; got {self.early_ms}")
        if self.source_gain_db[0] > self.source_gain_db[1]:
            raise DataError(f"source_gain_db must be (low, high); got {self.source_gain_db}")
        self._check_inside(n_src)
        for rt60 in {lo, hi}:
            try:
                _, order = pra.inverse_sabine(rt60, self.room_dim)
            except ValueError as err:
                raise DataError(f"RT60 {rt60} s is impossible in a {self.room_dim} m room: {err}") from err
            order = order if self.max_order is None else self.max_order
            if order > MAX_IMAGE_ORDER:
                raise DataError(
                    f"RT60 {rt60} s in a {self.room_dim} m room needs image-source order {order} "
                    f"(> {MAX_IMAGE_ORDER}, too costly); lower rt60 or set max_order"
                )

    def _check_inside(self, n_src: int) -> None:
        dim, centre, margin = np.array(self.room_dim), self.center, self.min_wall_distance
        reach = max(self.mic_radius, self.source_distance)
        heights = {
            "array_height": self.array_height,
            "source_height": self.array_height if self.source_height is None else self.source_height,
        }
        for axis in range(2):
            low, high = centre[axis] - reach, centre[axis] + reach
            if low < margin - 1e-9 or high > dim[axis] - margin + 1e-9:
                raise DataError(
                    f"impossible geometry: a {reach} m circle around the array at ({centre[0]:g}, {centre[1]:g}) spans "
                    f"{'xy'[axis]} = [{low:g}, {high:g}] m, outside [{margin:g}, {dim[axis] - margin:g}] "
                    f"(room {self.room_dim} m, min_wall_distance {margin} m)"
                )
        for name, height in heights.items():
            if not margin - 1e-9 <= height <= dim[2] - margin + 1e-9:
                raise DataError(
                    f"impossible geometry: {name} {height} m is not within [{margin}, {dim[2] - margin}] "
                    f"of a {dim[2]} m high room"
                )

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass
class Geometry:
    mics: np.ndarray  #: ``[3, mics]``
    sources: np.ndarray  #: ``[3, src]``
    azimuths: np.ndarray  #: ``[src]`` degrees


def random_azimuths(n_src: int, min_separation_deg: float, rng: np.random.Generator) -> np.ndarray:
    """``n_src`` azimuths (degrees, [0, 360)) pairwise at least ``min_separation_deg`` apart.

    Uniform over the valid configurations: spread the free arc at random, then rotate.
    """
    free = 360.0 - n_src * min_separation_deg
    gaps = np.sort(rng.uniform(0, free, n_src))
    return np.sort((gaps + min_separation_deg * np.arange(n_src) + rng.uniform(0, 360)) % 360)


def sample_geometry(config: RoomConfig, n_src: int, rng: np.random.Generator, n_mics: Optional[int] = None) -> Geometry:
    """Circular array at the configured centre, sources on the source circle at random azimuths."""
    n_mics = config.mics_for(n_src) if n_mics is None else n_mics
    centre = config.center
    mic_angles = 2 * np.pi * np.arange(n_mics) / n_mics
    mics = np.stack(
        [
            centre[0] + config.mic_radius * np.cos(mic_angles),
            centre[1] + config.mic_radius * np.sin(mic_angles),
            np.full(n_mics, centre[2]),
        ]
    )
    azimuths = random_azimuths(n_src, config.min_separation_deg, rng)
    rad = np.deg2rad(azimuths)
    height = config.array_height if config.source_height is None else config.source_height
    sources = np.stack(
        [
            centre[0] + config.source_distance * np.cos(rad),
            centre[1] + config.source_distance * np.sin(rad),
            np.full(n_src, height),
        ]
    )
    return Geometry(mics, sources, azimuths)


def room_impulse_responses(config: RoomConfig, geometry: Geometry, rt60: float) -> Tuple[List[List[np.ndarray]], dict]:
    """RIRs ``rirs[mic][src]`` of a shoebox with absorption from inverse Sabine, and its parameters."""
    absorption, max_order = pra.inverse_sabine(rt60, config.room_dim)
    max_order = max_order if config.max_order is None else config.max_order
    room = pra.ShoeBox(
        list(config.room_dim), fs=config.sample_rate, materials=pra.Material(absorption), max_order=max_order
    )
    for position in geometry.sources.T:
        room.add_source(position)
    room.add_microphone_array(pra.MicrophoneArray(geometry.mics, config.sample_rate))
    threads = pra.constants.get("num_threads")
    pra.constants.set("num_threads", 1)  # a multithreaded RIR sum is not bit-reproducible; --jobs parallelises
    try:
        room.compute_rir()
    finally:
        pra.constants.set("num_threads", threads)
    return room.rir, {"absorption": float(absorption), "max_order": int(max_order)}


def measure_rt60(rir: np.ndarray, sample_rate: int) -> float:
    """RT60 of an impulse response from its Schroeder decay (T30, extrapolated to 60 dB)."""
    return float(pra.experimental.measure_rt60(rir, fs=sample_rate, decay_db=30))


def reverberant_images(dry: np.ndarray, rirs: List[List[np.ndarray]]) -> np.ndarray:
    """Convolve dry sources ``[src, time]`` with ``rirs[mic][src]``: images ``[src, mics, time]``."""
    n_src, n_samples = dry.shape
    images = np.zeros((n_src, len(rirs), n_samples))
    for m, mic_rirs in enumerate(rirs):
        for s in range(n_src):
            images[s, m] = fftconvolve(dry[s], mic_rirs[s])[:n_samples]
    return images


def early_part(rir: np.ndarray, early_samples: int) -> np.ndarray:
    """An impulse response up to ``early_samples`` after its direct-path peak (its largest
    magnitude): the direct path plus the early reflections. ``[taps]`` -> ``[taps']``."""
    return rir[: int(np.argmax(np.abs(rir))) + int(early_samples)]


def direct_path_images(
    dry: np.ndarray, rirs: List[List[np.ndarray]], sample_rate: int, early_s: float = 0.05
) -> np.ndarray:
    """Each source's direct path plus early reflections at every microphone: the dry sources
    ``[src, time]`` convolved with ``rirs[mic][src]`` cut ``early_s`` seconds after their peak
    (:func:`early_part`). Returns ``[src, mics, time]``, aligned with :func:`reverberant_images`."""
    n_src, n_samples = dry.shape
    early = int(round(early_s * sample_rate))
    out = np.zeros((n_src, len(rirs), n_samples))
    for m, mic_rirs in enumerate(rirs):
        for s in range(n_src):
            out[s, m] = fftconvolve(dry[s], early_part(mic_rirs[s], early))[:n_samples]
    return out


def diffuse_noise(
    mics: np.ndarray, n_samples: int, sample_rate: int, rng: np.random.Generator, n_fft: int = 512
) -> np.ndarray:
    """Spherically isotropic white noise at microphones ``[3, mics]``: ``[mics, time]``.

    Independent STFT-domain noises are mixed per frequency by the Cholesky factor of the
    diffuse coherence ``sinc(2 f d_ij / c)``.
    """
    distances = np.linalg.norm(mics[:, :, None] - mics[:, None, :], axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    coherence = np.sinc(2 * freqs[:, None, None] * distances[None] / SPEED_OF_SOUND)
    mixing = np.linalg.cholesky(coherence + 1e-6 * np.eye(len(distances)))
    white = rng.standard_normal((len(distances), n_samples + n_fft))
    _, _, spec = sp_stft(white, nperseg=n_fft)
    _, noise = sp_istft(np.einsum("fij,jft->ift", mixing, spec), nperseg=n_fft)
    return noise[:, :n_samples]


# --------------------------------------------------------------------------- signals


@dataclass
class SourceSignal:
    audio: np.ndarray  #: ``[time]``
    utterances: List[str]
    skipped: List[str] = field(default_factory=list)


def speaker_signal(
    corpus: Corpus,
    speaker: str,
    n_samples: int,
    rng: np.random.Generator,
    min_utterance_s: float = 0.5,
    strict: bool = False,
) -> SourceSignal:
    """Concatenate randomly ordered utterances of ``speaker`` up to ``n_samples`` (cycling if needed).

    Unreadable files raise in ``strict`` mode and are skipped (listed) otherwise; utterances
    shorter than ``min_utterance_s``, silent or with non-finite samples are skipped.
    """
    utts = corpus.utterances(speaker)
    order = [utts[i] for i in rng.permutation(len(utts))]
    min_len = int(min_utterance_s * corpus.sample_rate)
    pieces, used, skipped, total, bad = [], [], [], 0, set()
    while total < n_samples:
        before = total
        for utt in order:
            if utt in bad:
                continue
            try:
                audio = corpus.load(speaker, utt)
            except AudioReadError as err:
                if strict:
                    raise
                bad.add(utt)
                skipped.append(f"{speaker}/{utt}: {err}")
                continue
            if audio.size < min_len:
                bad.add(utt)
                skipped.append(f"{speaker}/{utt}: shorter than {min_utterance_s} s")
                continue
            if not np.isfinite(audio).all() or not np.any(audio):
                bad.add(utt)
                skipped.append(f"{speaker}/{utt}: {'silent' if np.isfinite(audio).all() else 'non-finite samples'}")
                continue
            pieces.append(audio)
            used.append(utt)
            total += audio.size
            if total >= n_samples:
                break
        if total == before:
            raise DataError(
                f"speaker {speaker!r} has no readable utterance of at least {min_utterance_s} s ({len(utts)} tried)"
            )
    return SourceSignal(np.concatenate(pieces)[:n_samples].astype(np.float64), used, skipped)


def _level(audio: np.ndarray) -> np.ndarray:
    return audio / (np.sqrt(np.mean(audio**2)) + 1e-12)


def _fmt_position(position: np.ndarray) -> str:
    return " ".join(f"{v:.4f}" for v in position)


def item_seed(seed: int, *index: int) -> int:
    """A 32-bit seed for one item, derived from the master seed and the item's index."""
    return int(np.random.SeedSequence([int(seed), *[int(i) for i in index]]).generate_state(1)[0])


# --------------------------------------------------------------------------- one item


def _simulate_mixture_item(
    index: int, corpus: Corpus, out_dir: Path, n_src: int, seed: int, config: RoomConfig, strict: bool
) -> dict:
    item_id = f"mix{index:06d}"
    rng = np.random.default_rng(item_seed(seed, index))
    n_samples = int(round(config.duration * config.sample_rate))
    speaker_idx = rng.choice(len(corpus.speakers), n_src, replace=False)
    speakers = [corpus.speakers[i] for i in speaker_idx]
    signals = [speaker_signal(corpus, spk, n_samples, rng, config.min_utterance_s, strict) for spk in speakers]
    gains = 10 ** (rng.uniform(*config.source_gain_db, n_src) / 20)
    dry = np.stack([g * _level(sig.audio) for g, sig in zip(gains, signals)])
    geometry = sample_geometry(config, n_src, rng)
    rt60 = float(rng.uniform(*config.rt60_range))
    rirs, room_info = room_impulse_responses(config, geometry, rt60)
    images = reverberant_images(dry, rirs)
    direct = direct_path_images(dry, rirs, config.sample_rate, config.early_ms / 1000)
    mixture = images.sum(axis=0)
    noise = None
    if config.noise_snr_db is not None:
        noise = diffuse_noise(geometry.mics, n_samples, config.sample_rate, rng)
        noise *= np.sqrt(np.mean(mixture**2) / np.mean(noise**2) / 10 ** (config.noise_snr_db / 10))
        mixture = mixture + noise
    scale = config.peak / (np.abs(mixture).max() + 1e-12)

    row = {"mixture_ID": item_id, "mixture_path": f"mix/{item_id}.wav"}
    write_wav(out_dir / row["mixture_path"], (scale * mixture).astype(np.float32), config.sample_rate)
    for k in range(n_src):
        row[f"source_{k + 1}_path"] = f"s{k + 1}/{item_id}.wav"
        write_wav(out_dir / row[f"source_{k + 1}_path"], (scale * images[k]).astype(np.float32), config.sample_rate)
    for k in range(n_src):
        row[f"direct_{k + 1}_path"] = f"direct{k + 1}/{item_id}.wav"
        write_wav(out_dir / row[f"direct_{k + 1}_path"], (scale * direct[k]).astype(np.float32), config.sample_rate)
    for k in range(n_src):
        row[f"dry_{k + 1}_path"] = f"dry{k + 1}/{item_id}.wav"
        write_wav(out_dir / row[f"dry_{k + 1}_path"], (scale * dry[k]).astype(np.float32), config.sample_rate)
    if noise is not None:
        row["noise_path"] = f"noise/{item_id}.wav"
        write_wav(out_dir / row["noise_path"], (scale * noise).astype(np.float32), config.sample_rate)
    for k in range(n_src):
        row[f"speaker_{k + 1}"] = speakers[k]
        row[f"utterances_{k + 1}"] = "+".join(signals[k].utterances)
        row[f"azimuth_{k + 1}"] = round(float(geometry.azimuths[k]), 4)
        row[f"position_{k + 1}"] = _fmt_position(geometry.sources[:, k])
    row["mic_positions"] = ";".join(_fmt_position(p) for p in geometry.mics.T)
    row.update(
        rt60=round(rt60, 4),
        rt60_measured=round(measure_rt60(rirs[0][0], config.sample_rate), 4),
        absorption=round(room_info["absorption"], 6),
        max_order=room_info["max_order"],
        snr_db=config.noise_snr_db,
        length=n_samples,
        seed=item_seed(seed, index),
        index=index,
    )
    record = {"row": row, "skipped": sorted({s for sig in signals for s in sig.skipped})}
    write_text(out_dir / "rows" / f"{item_id}.json", json.dumps(record))
    return record


def _simulate_speaker_item(
    key: Tuple[int, int], corpus: Corpus, out_dir: Path, seed: int, config: RoomConfig, strict: bool, label_map: dict
) -> dict:
    speaker_index, j = key
    speaker = corpus.speakers[speaker_index]
    item_id = f"{speaker}_{j:05d}"
    rng = np.random.default_rng(item_seed(seed, label_map[speaker], j))
    n_samples = int(round(config.duration * config.sample_rate))
    signal = speaker_signal(corpus, speaker, n_samples, rng, config.min_utterance_s, strict)
    dry = _level(signal.audio)[None]
    geometry = sample_geometry(config, 1, rng, n_mics=config.mics_for(1))
    geometry.mics = geometry.mics[:, :1]  # the reference microphone only
    rt60 = float(rng.uniform(*config.rt60_range))
    rirs, room_info = room_impulse_responses(config, geometry, rt60)
    image = reverberant_images(dry, rirs)[0, 0]
    scale = config.peak / (np.abs(image).max() + 1e-12)
    row = {
        "utterance_ID": item_id,
        "path": f"reverb/{speaker}/{item_id}.wav",
        "dry_path": f"dry/{speaker}/{item_id}.wav",
    }
    write_wav(out_dir / row["path"], (scale * image).astype(np.float32), config.sample_rate)
    write_wav(out_dir / row["dry_path"], (scale * dry[0]).astype(np.float32), config.sample_rate)
    row.update(
        speaker=speaker,
        label=label_map[speaker],
        utterances="+".join(signal.utterances),
        azimuth=round(float(geometry.azimuths[0]), 4),
        position=_fmt_position(geometry.sources[:, 0]),
        mic_position=_fmt_position(geometry.mics[:, 0]),
        rt60=round(rt60, 4),
        rt60_measured=round(measure_rt60(rirs[0][0], config.sample_rate), 4),
        absorption=round(room_info["absorption"], 6),
        max_order=room_info["max_order"],
        length=n_samples,
        seed=item_seed(seed, label_map[speaker], j),
    )
    record = {"row": row, "skipped": sorted(set(signal.skipped))}
    write_text(out_dir / "rows" / f"{item_id}.json", json.dumps(record))
    return record


# --------------------------------------------------------------------------- driver


def _prepare_out_dir(out_dir, settings: dict) -> Path:
    """Create ``out_dir``, refuse one holding other settings, remove temp files of killed runs."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"output path exists and is not a folder: {out_dir}")
    settings_path = out_dir / "settings.json"
    text = json.dumps(settings, indent=2, sort_keys=True) + "\n"
    if settings_path.exists():
        if settings_path.read_text(encoding="utf-8") != text:
            raise DataError(
                f"{out_dir} holds a simulation with other settings ({settings_path}); use another --out or delete it"
            )
    try:
        make_writable_folder(out_dir)
    except OSError as err:
        raise DataError(f"cannot write to the output folder {out_dir} ({err.strerror or err})") from None
    for root, _, names in os.walk(out_dir):
        for name in names:
            if name.startswith(".") and ".tmp" in name:
                os.remove(os.path.join(root, name))
    if not settings_path.exists():
        write_text(settings_path, text)
    return out_dir


def _load_record(path: Path, out_dir: Path) -> Optional[dict]:
    """The completion record of a finished item, or None if the item must be (re)done."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    paths = [v for k, v in record["row"].items() if k.endswith("path") and isinstance(v, str)]
    return record if all((out_dir / p).exists() for p in paths) else None


def _run(work, keys: Sequence, ids: Sequence[str], out_dir: Path, jobs: int, desc: str) -> List[dict]:
    """Run ``work(key)`` for unfinished keys (in parallel with ``jobs``), return records in key order."""
    records = {i: _load_record(out_dir / "rows" / f"{item_id}.json", out_dir) for i, item_id in enumerate(ids)}
    todo = [i for i, rec in records.items() if rec is None]
    bar = progress(total=len(keys), initial=len(keys) - len(todo), desc=desc, unit="item")
    tasks = [(work, i, keys[i]) for i in todo]
    with bar, _pool(jobs, len(todo)) as pool:
        results = map(_indexed, tasks) if pool is None else pool.imap_unordered(_indexed, tasks)
        for i, record in results:
            records[i] = record
            bar.update(1)
    return [records[i] for i in range(len(keys))]


def _indexed(task):
    work, i, key = task
    return i, work(key)


@contextlib.contextmanager
def _pool(jobs: int, n_tasks: int):
    """A process pool forked from this process (no re-import of torch per worker), or None."""
    if jobs == 1 or n_tasks <= 1:
        yield None
        return
    with multiprocessing.get_context("fork").Pool(min(jobs, n_tasks)) as pool:
        yield pool


def _finish(records: List[dict], out_dir: Path) -> Path:
    csv_path = out_dir / "metadata.csv"
    write_text(csv_path, pd.DataFrame([rec["row"] for rec in records]).to_csv(index=False))
    skipped = sorted({s for rec in records for s in rec["skipped"]})
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable or too short utterance(s), e.g. {skipped[0]} "
            f"(listed in {out_dir / 'skipped.txt'}; use strict=True / --strict to fail instead)",
            stacklevel=3,
        )
    skipped_path = out_dir / "skipped.txt"
    if skipped:
        write_text(skipped_path, "\n".join(skipped) + "\n")
    elif skipped_path.exists():
        skipped_path.unlink()
    return csv_path


def _check_jobs(jobs: int) -> int:
    if int(jobs) < 1:
        raise DataError(f"jobs must be at least 1; got {jobs}")
    return int(jobs)


def simulate_mixtures(
    corpus: Corpus,
    out_dir,
    n_src: int,
    n_mixtures: int,
    seed: int = 0,
    jobs: int = 1,
    config: RoomConfig = RoomConfig(),
    strict: bool = False,
) -> Path:
    """Simulate ``n_mixtures`` reverberant ``n_src``-speaker mixtures; return the metadata CSV path.

    Item ``i`` depends only on ``(seed, i)``, so any ``jobs`` gives identical files, and a
    rerun (or a larger ``n_mixtures``) skips finished items.
    """
    config.validate(n_src)
    if config.mics_for(n_src) < n_src:
        raise DataError(
            f"{config.mics_for(n_src)} microphone(s) for {n_src} sources is underdetermined; the "
            f"separators here are determined (need n_mics >= n_src)"
        )
    jobs = _check_jobs(jobs)
    if n_mixtures < 1:
        raise DataError(f"n_mixtures must be at least 1; got {n_mixtures}")
    if n_src > len(corpus.speakers):
        raise DataError(
            f"{n_src} sources requested but the {corpus.name} corpus has only {len(corpus.speakers)} speaker(s)"
        )
    settings = {
        "kind": "mixtures",
        "n_src": n_src,
        "seed": seed,
        "corpus": corpus.describe(),
        "config": config.to_dict(),
    }
    out_dir = _prepare_out_dir(out_dir, settings)
    work = partial(
        _simulate_mixture_item, corpus=corpus, out_dir=out_dir, n_src=n_src, seed=seed, config=config, strict=strict
    )
    keys = list(range(n_mixtures))
    records = _run(work, keys, [f"mix{i:06d}" for i in keys], out_dir, jobs, f"simulate {n_src}-source mixtures")
    return _finish(records, out_dir)


def simulate_speakers(
    corpus: Corpus,
    out_dir,
    n_per_speaker: int,
    seed: int = 0,
    jobs: int = 1,
    config: RoomConfig = RoomConfig(),
    strict: bool = False,
) -> Path:
    """Single-speaker reverberant signals (reference microphone) with speaker labels.

    Writes ``metadata.csv`` (``path``, ``dry_path``, ``speaker``, ``label``, ...) and
    ``label_map.json`` (speaker -> label, sorted speakers) in ``out_dir``; returns the CSV path.
    """
    config.validate(1)
    jobs = _check_jobs(jobs)
    if n_per_speaker < 1:
        raise DataError(f"n_per_speaker must be at least 1; got {n_per_speaker}")
    label_map = {spk: i for i, spk in enumerate(corpus.speakers)}
    settings = {"kind": "speakers", "seed": seed, "corpus": corpus.describe(), "config": config.to_dict()}
    out_dir = _prepare_out_dir(out_dir, settings)
    write_text(out_dir / "label_map.json", json.dumps(label_map, indent=2) + "\n")
    work = partial(
        _simulate_speaker_item,
        corpus=corpus,
        out_dir=out_dir,
        seed=seed,
        config=config,
        strict=strict,
        label_map=label_map,
    )
    keys = [(k, j) for k in range(len(corpus.speakers)) for j in range(n_per_speaker)]
    ids = [f"{corpus.speakers[k]}_{j:05d}" for k, j in keys]
    records = _run(work, keys, ids, out_dir, jobs, "simulate single-speaker signals")
    return _finish(records, out_dir)
