"""Multichannel separation of long signals in overlapping chunks, and file separation.

asteroid's ``LambdaOverlapAdd`` flattens the channels of a chunk (its networks are
single-channel) and ``asteroid.separate`` rescales the estimates and keeps one channel; these
keep every microphone and the reference-microphone scale of the estimates.
"""

import logging
from pathlib import Path
from typing import Optional

import torch
from scipy.signal import get_window

from ..evaluation.metrics import solve_permutation

log = logging.getLogger(__name__)


def separate_in_chunks(
    separate_fn,
    wav: torch.Tensor,
    window: int,
    hop: Optional[int] = None,
    window_type: str = "hann",
    reorder: bool = True,
) -> torch.Tensor:
    """``[batch, mics, time]`` -> ``[batch, n_src, time]`` by chunks of ``window`` samples every
    ``hop`` (default ``window // 2``), each separated by ``separate_fn`` (all microphones),
    sources aligned with the previous chunk on their overlap, windowed overlap-add normalised
    by the summed window (exact reconstruction of a chunk-independent output)."""
    hop = hop or window // 2
    if not 0 < hop <= window:
        raise ValueError(f"the overlap-add hop must be in (0, window={window}]; got {hop}")
    batch, _, length = wav.shape
    starts = list(range(0, max(length - window, 0) + 1, hop))
    if starts[-1] + window < length:
        starts.append(length - window if length > window else 0)
    taper = torch.as_tensor(get_window(window_type, window, fftbins=False), dtype=wav.dtype, device=wav.device)
    out, weight, previous = None, torch.zeros(length, dtype=wav.dtype, device=wav.device), None
    for start in starts:
        stop = min(start + window, length)
        est = separate_fn(wav[..., start:stop])
        if out is None:
            out = torch.zeros(batch, est.shape[1], length, dtype=est.dtype, device=est.device)
        if reorder and previous is not None:
            overlap = previous[1] - start
            if overlap > 0:  # a new tensor: ``est`` may be a view of the input
                orders = [
                    solve_permutation(est[b, :, :overlap].cpu(), previous[0][b, :, -overlap:].cpu())
                    for b in range(batch)
                ]
                est = torch.stack([est[b, torch.as_tensor(order)] for b, order in enumerate(orders)])
        w = taper[: stop - start].clamp_min(1e-3)
        out[..., start:stop] += est * w
        weight[start:stop] += w
        previous = (est, stop)
    return out / weight


def source_paths(folder, stem: str, n_src: int) -> list:
    """The package's one naming of separated files (``model.separate`` and ``asteroid-mvae
    separate``): ``folder/<stem>_s<k>.wav``, ``k = 1..n_src`` (asteroid's ``separate`` writes
    ``_est<k>``)."""
    return [Path(folder) / f"{stem}_s{k}.wav" for k in range(1, n_src + 1)]


class FileSeparation:
    """Separate audio files with a separator, keeping every channel (asteroid-infer's options)."""

    def __init__(
        self,
        model,
        window: Optional[int] = None,
        hop: Optional[int] = None,
        window_type: str = "hann",
        reorder: bool = True,
        device="cpu",
    ):
        self.model, self.window, self.hop, self.window_type, self.reorder = model, window, hop, window_type, reorder
        self.device = torch.device(device)

    def separate(self, wav: torch.Tensor) -> torch.Tensor:
        """``[batch, mics, time]`` -> ``[batch, n_src, time]`` at the reference microphone's scale."""
        forward = self.model.forward_wav
        with torch.no_grad():
            if self.window is None or wav.shape[-1] <= self.window:
                return forward(wav)
            return separate_in_chunks(forward, wav, self.window, self.hop, self.window_type, self.reorder)

    def output_paths(self, path, output_dir=None) -> list:
        """:func:`source_paths` of ``path``'s stem beside it or in ``output_dir``."""
        path = Path(path)
        folder = Path(output_dir) if output_dir is not None else path.parent
        return source_paths(folder, path.stem, getattr(self.model, "n_src", 2))

    def separate_file(
        self,
        path,
        output_dir=None,
        force_overwrite: bool = False,
        resample: bool = False,
        outputs: Optional[list] = None,
    ) -> list:
        """Write ``<name>_s<k>.wav`` (beside the file or in ``output_dir``; ``outputs``: other
        names) all together or none; return their paths (empty, with a log line, when one exists
        and ``force_overwrite`` is off). ``ValueError`` for an output that would replace the input,
        an unreadable or truncated file, another sample rate without ``resample``."""
        import numpy as np
        import soundfile as sf

        from ..utils.io import wav_shortfall, write_wavs

        path = Path(path)
        outputs = [Path(o) for o in outputs] if outputs is not None else self.output_paths(path, output_dir)
        for out in outputs:
            if out.resolve() == path.resolve():
                raise ValueError(f"{path}: the output {out} would overwrite the input; choose another output folder")
        existing = [out for out in outputs if out.exists() or out.is_symlink()]
        if existing and not force_overwrite:
            log.warning("%s exists; pass -f/--force-overwrite to replace it", existing[0])
            return []
        missing = wav_shortfall(path)
        if missing:
            raise ValueError(
                f"{path}: truncated wav ({missing} bytes of its data chunk are missing); re-copy or re-export it"
            )
        try:
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)  # [time, mics]
        except sf.SoundFileError as err:  # unreadable: not audio, a format libsndfile lacks
            raise ValueError(f"cannot read {path}: {err}") from None
        target = int(self.model.sample_rate)
        wav = torch.from_numpy(np.ascontiguousarray(audio.T))
        if rate != target:
            if not resample:
                raise ValueError(f"{path}: {rate} Hz but the model expects {target} Hz; pass -r/--resample")
            import torchaudio

            wav = torchaudio.functional.resample(wav, rate, target)
        estimates = self.separate(wav[None].to(self.device))[0].cpu()
        if rate != target:
            import torchaudio

            estimates = torchaudio.functional.resample(estimates, target, rate)
        if not torch.isfinite(estimates).all():
            raise ValueError(f"{path}: the separation gave non-finite samples; nothing written")
        write_wavs(outputs, estimates.numpy()[: len(outputs)], rate)  # every source, or none on failure
        return outputs
