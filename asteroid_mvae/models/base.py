"""Base class of our separators: asteroid ``BaseModel``s driving the separation engine."""

import itertools
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
from asteroid.models.base_models import BaseModel

from ..compat import plain
from ..separation import SeparationResult, StftConfig, fallback, istft, separate, spatial, stft
from ..separation.dereverb import separate_dereverb
from ..separation.postfilter import multichannel_wiener
from ..separation.source_models import GaussIVA, SourceModel
from ..separation.threads import load_adapted_threads
from .arguments import check_args

DTYPES = {"complex64": torch.complex64, "complex128": torch.complex128}


@dataclass
class SeparationOutput:
    estimates: torch.Tensor  #: ``[batch, n_src, time]`` at the reference microphone's scale
    result: SeparationResult  #: STFT estimates, demixing matrices and the objective history


def as_batch(wav) -> torch.Tensor:
    """``[mics, time]`` or ``[batch, mics, time]`` (tensor or array) -> ``[batch, mics, time]``.

    ``ValueError`` for other ranks, empty inputs and the ``[time, mics]`` layout.
    """
    if not isinstance(wav, torch.Tensor):
        try:
            wav = torch.as_tensor(wav)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"Expected a [batch, mics, time] waveform tensor or array; got {type(wav).__name__} ({err})."
            ) from None
    if wav.dim() == 2:
        wav = wav[None]
    if wav.dim() != 3:
        raise ValueError(f"Expected a [batch, mics, time] or [mics, time] waveform; got shape {tuple(wav.shape)}.")
    if wav.numel() == 0:
        raise ValueError(f"Empty input of shape {tuple(wav.shape)}: nothing to separate.")
    if wav.shape[1] > wav.shape[2]:
        raise ValueError(
            f"Input of shape {tuple(wav.shape)} has more channels than samples: it looks like "
            f"[time, mics]; pass [mics, time] (transpose it)."
        )
    if wav.is_complex() or wav.dtype == torch.bool:
        raise ValueError(f"Expected real audio samples; got dtype {wav.dtype}.")
    return wav


log = logging.getLogger(__name__)

#: channels whose covariance eigenvalue is below this fraction of the largest count as
#: dependent (duplicated or scaled copies give ~1e-14 in float32; real arrays 1e-6 and more).
DEPENDENT_CHANNELS = 1e-9


GRAM_BLOCK = 2**20  #: samples per block of the channels' Gram matrix


def channel_rank(wav: torch.Tensor) -> torch.Tensor:
    """Independent directions the channels of each mixture ``[batch, mics, time]`` span ``[batch]``
    (eigenvalues of their Gram matrix above :data:`DEPENDENT_CHANNELS` of the largest; ``mics`` for
    silence)."""
    peak = wav.detach().abs().flatten(1).amax(1).to(torch.float64).clamp_min(1e-300)[:, None, None]
    gram = 0
    for start in range(0, wav.shape[-1], GRAM_BLOCK):  # float64 copies of a block at a time (long files)
        x = wav.detach()[..., start : start + GRAM_BLOCK].to(torch.float64) / peak
        gram = gram + x @ x.mT
    eigenvalues = torch.linalg.eigvalsh(gram)  # [batch, mics], ascending
    rank = (eigenvalues > DEPENDENT_CHANNELS * eigenvalues[:, -1:]).sum(1)
    return torch.where(eigenvalues[:, -1] == 0, torch.full_like(rank, wav.shape[1]), rank)


def check_independent_channels(wav: torch.Tensor, n_src: int) -> None:
    """``ValueError`` when a non-silent mixture's channels span fewer than ``n_src`` independent
    directions (a dead microphone, duplicated or scaled-copy channels): no demixing exists."""
    rank = channel_rank(wav)
    bad = torch.nonzero(rank < n_src).flatten()
    if bad.numel():
        b = int(bad[0])
        raise ValueError(
            f"mixture {b}: its {wav.shape[1]} channels span only {int(rank[b])} independent "
            f"direction(s) (silent, duplicated or scaled-copy channels), fewer than the {n_src} "
            f"sources requested; use other channels or fewer sources."
        )


def check_finite_estimates(estimates: torch.Tensor, name: str) -> None:
    """``FloatingPointError`` naming the first mixture whose estimates ``[batch, src, time]`` are not
    finite (the engine's solves run unchecked; a NaN must never pass as a result)."""
    finite = torch.isfinite(estimates).flatten(1).all(1)
    if not bool(finite.all()):
        b = int(torch.nonzero(~finite)[0])
        raise FloatingPointError(
            f"{name}: the separation of mixture {b} gave non-finite estimates (a singular "
            f"spatial covariance?); check its channels, or separate it in complex128."
        )


def _rank(wav) -> int:
    return wav.dim() if isinstance(wav, torch.Tensor) else torch.as_tensor(wav).dim()


#: peaks outside [2^-20, 2^16] are brought to about 1 before separating (powers of the
#: variances would overflow float32 near 1e19 or sink under the engine's floors).
LEVEL_RANGE = (2.0**-20, 2.0**16)


def engine_level(wav: torch.Tensor) -> torch.Tensor:
    """Per-mixture power-of-two factors ``[batch, 1, 1]`` in ``wav``'s dtype (exact in floating
    point): 1 for peaks in :data:`LEVEL_RANGE`, else ``2^round(log2 peak)``. Divide the input,
    multiply the estimates (:func:`restore_level`).

    The exponent is computed in float64 and kept below the dtype's largest power of two: a peak
    near float32's maximum (3e38) rounds up to ``2^128``, which is ``inf`` in float32 and would
    turn the input into zeros."""
    peak = wav.detach().flatten(1).abs().amax(1).to(torch.float64).clamp_min(torch.finfo(wav.dtype).tiny)
    outside = (peak < LEVEL_RANGE[0]) | (peak > LEVEL_RANGE[1])
    top = math.frexp(torch.finfo(wav.dtype).max)[1] - 1  # 127 for float32
    factor = torch.exp2(torch.round(torch.log2(peak)).clamp_max(top))
    return torch.where(outside, factor, torch.ones_like(factor)).to(wav.dtype)[:, None, None]


def restore_level(estimates: torch.Tensor, level: torch.Tensor, name: str) -> torch.Tensor:
    """``estimates * level`` (in place); ``ValueError`` naming the mixture when the product would
    leave the dtype's finite range (an input at the edge of float32's range whose estimates come
    out larger than the input's peak): float32 cannot hold them."""
    if bool((level == 1).all()):
        return estimates
    peak = estimates.detach().abs().flatten(1).amax(1).to(torch.float64) * level.flatten().to(torch.float64)
    limit = torch.finfo(estimates.dtype).max
    over = torch.nonzero(~(peak <= limit)).flatten()  # (NaN estimates are check_finite_estimates')
    over = [int(b) for b in over if torch.isfinite(peak[b])]
    if over:
        raise ValueError(
            f"{name}: the estimates of mixture {over[0]} reach {float(peak[over[0]]):.3g}, beyond "
            f"{estimates.dtype}'s range ({limit:.3g}); scale the input down or pass float64 audio."
        )
    return estimates.mul_(level)


def stand_in_for_silence(wav: torch.Tensor):
    """``(wav, silent)``: all-zero mixtures (no information, singular covariances) replaced by a
    fixed noise so that the batch separates without NaN; ``silent [batch]`` bool (``None`` when
    there is none) says whose estimates must be set to zero."""
    silent = wav.flatten(1).abs().amax(1) == 0
    if not bool(silent.any()):
        return wav, None
    noise = torch.randn(wav.shape[1:], generator=torch.Generator().manual_seed(0), dtype=wav.dtype)
    return torch.where(silent[:, None, None], noise.to(wav.device), wav), silent


def check_lengths(lengths, wav: torch.Tensor, min_length: int = 1) -> torch.Tensor:
    """``lengths`` (sequence or tensor, one per mixture of ``wav [batch, mics, time]``) as an int64
    CPU tensor ``[batch]``; ``ValueError`` naming the problem otherwise."""
    values = torch.as_tensor(lengths).detach().cpu()
    if values.dim() != 1 or values.numel() != wav.shape[0]:
        raise ValueError(f"lengths must hold one length per mixture ({wav.shape[0]}); got shape {tuple(values.shape)}.")
    if values.is_floating_point() or values.is_complex():
        if not bool(torch.all(values == values.round())):
            raise ValueError(f"lengths must be whole numbers of samples; got {values.tolist()}.")
    values = values.long()
    bad = torch.nonzero((values < min_length) | (values > wav.shape[-1])).flatten()
    if bad.numel():
        b = int(bad[0])
        raise ValueError(
            f"lengths[{b}] = {int(values[b])} is outside [{min_length}, {wav.shape[-1]}] "
            f"(at least n_fft, at most the padded time axis)."
        )
    return values


def by_length(separate_batch: Callable, wav: torch.Tensor, lengths: torch.Tensor, *per_item) -> torch.Tensor:
    """Separate mixtures of different lengths as if each were alone: every group of equal length
    runs as one batch cropped to that length; estimates are zero beyond each length.

    ``wav [batch, mics, time]``, ``lengths [batch]`` (see :func:`check_lengths`), ``per_item``:
    more ``[batch, ..., time]`` tensors cropped the same way (e.g. references);
    ``separate_batch(wav, *per_item) -> [group, K, length]``. Returns ``[batch, K, time]``.
    Grouping, not masking: the STFT's last frames and the networks' receptive fields would let
    padding change a mixture's estimates; a group of one length is exactly that mixture alone.
    """
    out = None
    for length in torch.unique(lengths).tolist():
        index = torch.nonzero(lengths == length).flatten().to(wav.device)
        estimates = separate_batch(wav[index, :, :length], *(x[index, ..., :length] for x in per_item))
        if out is None:
            out = estimates.new_zeros(wav.shape[0], estimates.shape[1], wav.shape[-1])
        out[index, :, :length] = estimates
    return out


def ilrma_start(
    mix_stft: torch.Tensor, n_iter: int, taps: int = 0, delay: int = 1, n_src: Optional[int] = None
) -> Optional[torch.Tensor]:
    """Demixing matrices after ``n_iter`` ILRMA iterations (2 bases, seed 0) ``[batch, freq, src, mics]``,
    the start of the deep separators' ``init_ilrma`` (``None`` for 0 iterations: the identity); with
    prediction ``taps``, ILRMA-T's filters ``[batch, freq, src, mics * (1 + taps)]``; with fewer
    sources ``n_src`` than microphones, OverIVA-ILRMA's source rows (the engine's ``n_src``)."""
    if not n_iter:
        return None
    from ..separation import NMF

    if n_src is not None and n_src < mix_stft.shape[1]:
        if taps:
            raise ValueError(f"ILRMA-T has no form with more microphones ({mix_stft.shape[1]}) than sources ({n_src}).")
        return separate(mix_stft, NMF(n_basis=2, seed=0), n_iter=n_iter, n_src=n_src, proj_back=False).demix

    return separate_dereverb(
        mix_stft, NMF(n_basis=2, seed=0), n_iter=n_iter, taps=taps, delay=delay, proj_back=False
    ).demix


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0].strip() if text else type(err).__name__)[:300]


def model_from_conf(conf, default_class=None, where: str = "model configuration", *args, **kwargs):
    """Build a model from a ``serialize()`` dict (asteroid's ``from_pretrained`` without its
    ``torch.load``): ``kwargs`` override its ``model_args``; the class is the asteroid model
    named ``model_name`` (ours are registered), else ``default_class``. ``ValueError`` naming
    ``where`` and the problem (missing keys, unknown class, bad arguments, weights that do not
    fit); the caller's dict is not modified."""
    from asteroid.models import get

    missing = [
        key for key in ("model_name", "model_args", "state_dict") if not isinstance(conf, dict) or key not in conf
    ]
    if missing:
        raise ValueError(f"{where}: not a saved model (no {', '.join(missing)}); expected the dict of serialize().")
    if not isinstance(conf["model_args"], dict) or not isinstance(conf["state_dict"], dict):
        raise ValueError(
            f"{where}: model_args and state_dict must be mappings; got "
            f"{type(conf['model_args']).__name__} and {type(conf['state_dict']).__name__}."
        )
    try:
        model_class = get(conf["model_name"])
    except ValueError:  # not registered: a subclass given by the caller
        model_class = default_class
    if (
        not (isinstance(model_class, type) and issubclass(model_class, BaseModel))
        or model_class is BaseModel
        or model_class.__dict__.get("abstract_model", False)
    ):
        raise ValueError(f"{where}: unknown model {conf['model_name']!r} (not an asteroid model class).")
    model_args = {**conf["model_args"], **kwargs}
    try:
        model = model_class(*args, **model_args)
    except ValueError as err:
        raise ValueError(f"{where}: {_first_line(err)}") from None
    except TypeError as err:  # an argument the class does not take
        raise ValueError(f"{where}: its arguments do not fit {model_class.__name__} ({_first_line(err)}).") from None
    try:
        model.load_state_dict(conf["state_dict"])
    except Exception as err:  # missing or unexpected keys, other shapes, non-tensors
        raise ValueError(
            f"{where}: its weights do not fit a {model_class.__name__} built from its arguments "
            f"({type(err).__name__}: {_first_line(err)})."
        ) from None
    return model


class SafeLoadingModel(BaseModel):
    """Shared base of this package's models: ``from_pretrained`` reads files only through
    :func:`asteroid_mvae.utils.safe_load.load_tensors` (tensors and plain data, never pickled
    code, whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says) and reports every problem as one
    ``ValueError``. asteroid 0.7.0's own ``from_pretrained`` calls ``torch.load`` without
    ``weights_only``, which that environment variable turns into a full unpickling."""

    abstract_model = True  #: not built from a file (subclasses are)

    @classmethod
    def from_pretrained(cls, pretrained_model_conf_or_path, *args, **kwargs):
        """A model from a ``serialize()`` dict or file (a path, a publish folder with ``model.pth``,
        a URL or hub id, downloaded by asteroid's ``cached_download``); ``kwargs`` override the
        saved arguments. A network package path gives ``cls.from_network_package`` when the class
        has one."""
        conf = pretrained_model_conf_or_path
        if not isinstance(conf, (str, os.PathLike)):
            return model_from_conf(conf, cls, "model configuration", *args, **kwargs)
        from .registry import read_model_file

        path = os.fspath(conf)
        if os.path.isdir(path):
            path = os.path.join(path, "model.pth")
        elif not os.path.lexists(path):
            from asteroid.utils.hub_utils import cached_download

            path = cached_download(path)  # a download only; the file is read below
        conf = read_model_file(path)
        if "model_name" not in conf:  # a network package
            if not hasattr(cls, "from_network_package"):
                raise ValueError(f"{path}: a network package; {cls.__name__} is built from saved models only.")
            return cls.from_network_package(path, *args, **kwargs)
        return model_from_conf(conf, cls, str(path), *args, **kwargs)


class IterativeSeparator(SafeLoadingModel):
    """Determined multichannel separator: the engine with a source model chosen by subclasses.

    Args:
        n_src: number of sources.
        n_iter: iterations of the engine.
        n_fft, hop_length, window: STFT settings (Hamming 2048 / 1024 at 16 kHz).
        ref_mic: microphone the estimates are projected back to.
        update: spatial update, ``"ip1"``, ``"ip2"`` or ``"iss"``.
        dtype: ``"complex64"`` or ``"complex128"``.
        sample_rate: sampling rate the model expects.
        ip_sweeps: spatial sweeps per iteration (1; the re-training authors' scripts use 2).
        block_frames: frames per block of the engine's covariance passes (``None``: automatic,
            whole unless the packed outer products exceed 1 GiB: long recordings then run in
            memory that stays a few times the STFT's; see ``spatial.MixtureFrames``).
        mics: with more microphones than sources: ``"all"`` (default): every microphone, through
            OverIVA's spatial update (:mod:`~asteroid_mvae.separation.overiva`: ``n_src`` demixing
            rows by IP with the source model's variances, the other ``M - n_src`` rows a Gaussian
            background), for every source model; ``"pca"``: the engine runs on the ``n_src``
            principal components of each frequency's spatial covariance and the estimates are
            least-squares images at ``ref_mic``; ``"first"``: the first ``n_src`` microphones only.
            OverIVA has no ISS and no prediction (``taps``) form here: with ``update="iss"`` or
            ``taps > 0``, ``"all"`` reduces by PCA. Each choice measured on speech, alone and with
            the post-filter: ``egs/vcc2018/results/arrays``.
        postfilter: ``"mwf"``: the separated outputs' soft masks give each source's spatial covariance
            on every microphone, and the estimates are re-made by the multichannel Wiener filters to
            ``ref_mic`` (:mod:`~asteroid_mvae.separation.postfilter`); ``"none"``: off; ``"auto"``
            (default): ``"mwf"`` with more microphones than sources, else off (with M > N the
            post-filter is what turns the extra microphones into a gain for every source model
            measured, see ``egs/vcc2018/results/arrays``).
        track_objective: record ``J`` after every iteration (``False``: first and last only, the
            estimates unchanged; J's share of the CPU time: ``benchmarks/results/bench_ip``).
        taps, delay: joint dereverberation: each output also subtracts a linear prediction from
            ``taps`` past frames starting ``delay`` frames back (AuxIVA-T, ILRMA-T, FastMVAE2-T,
            MVAE-T; :func:`~asteroid_mvae.separation.dereverb.separate_dereverb`); ``taps=0``
            (default): off, the plain engine.

    ``forward_wav(wav)`` takes ``[batch, n_mics, time]`` and returns ``[batch, n_src, time]``.
    """

    abstract_model = True

    def __init__(
        self,
        n_src: int = 2,
        n_iter: int = 60,
        n_fft: int = 2048,
        hop_length: int = 1024,
        window: str = "hamming",
        ref_mic: int = 0,
        update: str = "ip1",
        dtype: str = "complex64",
        sample_rate: float = 16000,
        ip_sweeps: int = 1,
        mics: str = "all",
        block_frames: Optional[int] = None,
        track_objective: bool = True,
        taps: int = 0,
        delay: int = 1,
        postfilter: str = "auto",
    ):
        a = check_args(
            type(self),
            n_src=n_src,
            n_iter=n_iter,
            n_fft=n_fft,
            hop_length=hop_length,
            window=window,
            ref_mic=ref_mic,
            update=update,
            dtype=dtype,
            sample_rate=sample_rate,
            ip_sweeps=ip_sweeps,
            mics=mics,
            block_frames=block_frames,
            track_objective=track_objective,
            taps=taps,
            delay=delay,
            postfilter=postfilter,
        )
        if not a["ref_mic"] < a["n_src"]:
            raise ValueError(f"{type(self).__name__}: ref_mic must be in [0, n_src={a['n_src']}); got {ref_mic}.")
        super().__init__(sample_rate=a["sample_rate"], in_channels=None)  # any number of microphones >= n_src
        self.n_src, self.n_iter, self.ref_mic = a["n_src"], a["n_iter"], a["ref_mic"]
        self.update, self.dtype, self.ip_sweeps, self.mics = a["update"], a["dtype"], a["ip_sweeps"], a["mics"]
        self.block_frames, self.track_objective = a["block_frames"], a["track_objective"]
        self.taps, self.delay, self.postfilter = a["taps"], a["delay"], a["postfilter"]
        self.stft_config = StftConfig(a["n_fft"], a["hop_length"], a["window"])

    def uses_overiva(self, n_mics: int) -> bool:
        """Whether ``n_mics`` microphones go through OverIVA's update (see ``mics``)."""
        return n_mics > self.n_src and self.mics == "all" and self.update != "iss" and not self.taps

    def make_source_model(self) -> SourceModel:
        """A fresh source model for one separation call."""
        raise NotImplementedError

    def initial_demix(self, mix_stft: torch.Tensor) -> Optional[torch.Tensor]:
        """Initial demixing matrices ``[batch, freq, src, mics]`` (``None``: identity)."""
        return None

    def falls_back(self) -> bool:
        """Whether the start's outputs replace the iterations' where :func:`fallback.keep_start`
        says so (the deep separators' ``fallback="envelope"``)."""
        return False

    def check_input(self, wav: torch.Tensor) -> torch.Tensor:
        wav = as_batch(wav)
        finite = torch.isfinite(wav)
        if not bool(finite.all()):
            b, m, t = (int(i) for i in torch.nonzero(~finite)[0])
            raise ValueError(
                f"Input has a non-finite sample ({float(wav[b, m, t])}) at mixture {b}, channel {m}, "
                f"sample {t}; separators need finite audio."
            )
        if wav.shape[1] < self.n_src:
            raise ValueError(
                f"{type(self).__name__} separates {self.n_src} sources and needs at least {self.n_src} "
                f"microphones; the input has {wav.shape[1]} channel(s) (shape {tuple(wav.shape)})."
            )
        if wav.shape[-1] < self.stft_config.n_fft:
            raise ValueError(f"Input too short: {wav.shape[-1]} samples < n_fft={self.stft_config.n_fft}.")
        wav = wav if self.mics != "first" else wav[:, : self.n_src]
        check_independent_channels(wav, self.n_src)
        return wav

    def separate_with_history(
        self, wav: torch.Tensor, callback: Optional[Callable] = None, source_model: Optional[SourceModel] = None
    ) -> SeparationOutput:
        """Separate and keep the engine's result (objective history, demixing matrices).

        ``source_model``: used instead of :meth:`make_source_model` (e.g. an oracle). On the CPU the
        whole call (STFT, engine, inverse STFT) runs with torch's threads lowered to the cores other
        processes leave free (:mod:`asteroid_mvae.separation.threads`).
        """
        with load_adapted_threads(getattr(wav, "device", torch.device("cpu"))):
            return self._separate_with_history(wav, callback, source_model)

    def _separate_with_history(self, wav, callback, source_model) -> SeparationOutput:
        wav = self.check_input(wav)
        real_dtype = wav.dtype if wav.dtype in (torch.float32, torch.float64) else torch.float32
        wav, silent = stand_in_for_silence(wav.to(real_dtype))
        level = engine_level(wav)
        if bool((level != 1).any()):  # (a scaled copy only when some level is out of range)
            wav = wav / level
        with torch.no_grad():
            X = X_all = stft(wav, self.stft_config)  # [batch, mics, freq, frames]
            over = self.uses_overiva(X_all.shape[1])
            if over and bool((channel_rank(wav) < wav.shape[1]).any()):  # a dead or duplicated microphone
                log.warning(
                    "%s: the %d channels span fewer independent directions (a silent or duplicated "
                    "channel); OverIVA needs all of them, so they are reduced to %d by PCA.",
                    type(self).__name__,
                    X_all.shape[1],
                    self.n_src,
                )
                over = False
            reduce = X_all.shape[1] > self.n_src and not over
            post = self.postfilter == "mwf" or (self.postfilter == "auto" and X_all.shape[1] > self.n_src)
            if reduce:  # more microphones than sources: the engine runs on the principal subspace
                X = torch.einsum("bfnm,bmft->bnft", spatial.pca_reduction(X_all, self.n_src), X_all)
            options = dict(
                update=self.update,
                ref_mic=self.ref_mic,
                W0=self.initial_demix(X),
                callback=callback,
                dtype=DTYPES[self.dtype],
                ip_sweeps=self.ip_sweeps,
                proj_back=not reduce,
                block_frames=self.block_frames,
                track_objective=self.track_objective,
                overwrite_mix=not post,
            )  # X is this call's own: the estimates take its place
            source_model = source_model or self.make_source_model()

            def run(model, n_iter, **changes):
                kwargs = {**options, **changes}
                if over:  # every microphone: OverIVA's spatial update
                    return separate(X, model, n_iter=n_iter, n_src=self.n_src, **kwargs)
                return separate_dereverb(X, model, n_iter=n_iter, taps=self.taps, delay=self.delay, **kwargs)

            # the start's outputs (no iteration), before the engine may overwrite X with its estimates
            start = run(GaussIVA(), 0, callback=None, overwrite_mix=False) if self.falls_back() else None
            result = run(source_model, self.n_iter)
            if start is not None:
                result = fallback.keep_start_where_better(result, start)
                if bool(result.kept_start.any()):
                    log.info(
                        "%s: kept the start's outputs for %d of %d mixtures",
                        type(self).__name__,
                        int(result.kept_start.sum()),
                        result.kept_start.numel(),
                    )
            if reduce:
                result.estimates = spatial.least_squares_images(
                    result.estimates, X_all[:, self.ref_mic].to(result.estimates.dtype)
                )
            if post:  # every microphone, informed by the separated outputs
                result.estimates = multichannel_wiener(
                    X_all, result.estimates.to(X_all.dtype), self.ref_mic, block_frames=self.block_frames
                )
            estimates = restore_level(
                istft(result.estimates, wav.shape[-1], self.stft_config).to(real_dtype), level, type(self).__name__
            )
        check_finite_estimates(estimates, type(self).__name__)
        if silent is not None:  # the separation of silence is silence
            estimates = estimates.masked_fill(silent[:, None, None], 0.0)
        return SeparationOutput(estimates, result)

    def forward(self, wav: torch.Tensor, callback: Optional[Callable] = None, lengths=None) -> torch.Tensor:
        """``[batch, n_mics, time]`` -> ``[batch, n_src, time]`` (a 2-D input gives a 2-D output).

        ``lengths [batch]``: valid samples of each zero-padded mixture; each is separated as if it
        were alone (see :func:`by_length`) and its estimates are zero beyond its length.
        """
        if lengths is not None:
            batch = as_batch(wav)
            lengths = check_lengths(lengths, batch, self.stft_config.n_fft)
            return by_length(lambda w: self.separate_with_history(w, callback).estimates, batch, lengths)
        estimates = self.separate_with_history(wav, callback).estimates
        return estimates[0] if _rank(wav) == 2 else estimates

    def forward_wav(self, wav, *args, **kwargs):
        return self(wav, *args, **kwargs)

    @property
    def device(self) -> torch.device:
        """Where the weights live (cpu for separators without any); asteroid's tools read it."""
        tensor = next(itertools.chain(self.parameters(), self.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    def separate(self, wav, window: Optional[int] = None, hop: Optional[int] = None, **file_options):
        """asteroid's ``BaseModel.separate`` for multichannel input, without its rescaling: a
        ``[batch, mics, time]`` tensor/array (optionally in overlapping chunks of ``window``
        samples) -> estimates at the reference microphone's scale, or a file path ->
        ``<name>_s<k>.wav`` files, named as ``asteroid-mvae separate`` names them (``output_dir``,
        ``force_overwrite``, ``resample``)."""
        from .chunked import FileSeparation

        runner = FileSeparation(self, window, hop)
        if isinstance(wav, (str, Path)):
            return runner.separate_file(wav, **file_options)
        estimates = runner.separate(as_batch(wav))
        return estimates if _rank(wav) == 3 else estimates[0]

    def get_model_args(self):
        cfg = self.stft_config
        return dict(
            n_src=self.n_src,
            n_iter=self.n_iter,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            window=cfg.window,
            ref_mic=self.ref_mic,
            update=self.update,
            dtype=self.dtype,
            sample_rate=float(self.sample_rate),
            ip_sweeps=self.ip_sweeps,
            mics=self.mics,
            block_frames=self.block_frames,
            track_objective=self.track_objective,
            taps=self.taps,
            delay=self.delay,
            postfilter=self.postfilter,
        )

    def serialize(self):
        """As asteroid's, with plain types only (``torch.load`` is weights-only)."""
        conf = super().serialize()
        conf["model_args"] = plain(conf["model_args"])
        conf["infos"] = plain(conf["infos"])
        return conf


def with_postfilter(model, postfilter: str):
    """``model`` with the spatial post-filter ``postfilter`` (``"auto"``, ``"none"``, ``"mwf"``; see
    :class:`IterativeSeparator`), for the IVA-family separators; ``ValueError`` for other models."""
    if not isinstance(model, IterativeSeparator):
        raise ValueError(
            f"--postfilter applies to the IVA-family separators (AuxIVA, ILRMA, MVAE, FastMVAE, FastMVAE2), "
            f"not to {type(model).__name__}."
        )
    model.postfilter = postfilter
    return model
