"""Oracle ceilings of our family: separators that are given the true source images.

- :class:`OracleIP`: the engine's IP updates with the true power spectrograms of the source
  images at the reference microphone as the variances (floored, see
  :class:`~asteroid_mvae.separation.source_models.FixedVariance`): what a perfect variance
  (source) model gives with this STFT and a time-invariant demixing.
- :class:`OracleLS`: per frequency, the least-squares demixing ``W_f = S_f X_f^H (X_f X_f^H)^-1``
  towards the true images ``S_f`` at the reference microphone: the best time-invariant linear
  demixer in the least-squares sense (no projection back needed).

- :class:`IdealMask`: the ideal binary mask (IBM: each time-frequency bin to the source
  with the largest image magnitude) or ideal ratio mask (IRM: ``|S_k| / sum_j |S_j|``) on the
  reference microphone's STFT: the ceilings of single-channel mask-based methods.

All take ``forward_wav(wav [batch, mics, time], references [batch, n_src, time])`` and say
so with ``needs_references = True`` (the evaluation passes the references).
"""

import torch

from .. import catalogue
from ..separation import FixedVariance, istft, stft
from .arguments import check_args
from .base import IterativeSeparator, as_batch, by_length, check_lengths


def check_references(wav: torch.Tensor, references: torch.Tensor, n_src: int) -> torch.Tensor:
    references = as_batch(references)
    if references.shape[0] != wav.shape[0] or references.shape[-1] != wav.shape[-1] or references.shape[1] != n_src:
        raise ValueError(
            f"references must be [batch={wav.shape[0]}, n_src={n_src}, time={wav.shape[-1]}]; "
            f"got {tuple(references.shape)}."
        )
    return references


class OracleIP(IterativeSeparator):
    """IP with the true source power spectrograms as the source model (see the module docstring).

    Args:
        floor: relative floor of the true powers (``FixedVariance``; 1e-6 for the raw powers).
        **kwargs: see :class:`IterativeSeparator`.

    References:
        [1] N. Ono, "Stable and fast update rules for independent vector analysis based on auxiliary
            function technique", in Proc. IEEE WASPAA, 2011. (the IP update; the variances here are the true ones)
    """

    needs_references = True

    def __init__(self, floor: float = 0.1, **kwargs):
        kwargs.setdefault("postfilter", "none")  # the ceiling of the demixing itself
        a = check_args(type(self), floor=floor)
        super().__init__(**kwargs)
        self.floor = a["floor"]

    def get_model_args(self):
        return {**super().get_model_args(), "floor": self.floor}

    def forward_wav(self, wav, references, callback=None, lengths=None):
        batch = self.check_input(wav)
        references = check_references(batch, references, self.n_src)
        if lengths is not None:
            lengths = check_lengths(lengths, batch, self.stft_config.n_fft)
            return by_length(lambda w, refs: self.forward_wav(w, refs, callback), batch, lengths, references)
        real = batch.dtype if batch.dtype == torch.float64 else torch.float32
        target = stft(references.to(real), self.stft_config).abs().pow(2)  # [batch, src, freq, frames]
        estimates = self.separate_with_history(batch, callback, FixedVariance(target, self.floor)).estimates
        return estimates[0] if wav.dim() == 2 else estimates


class OracleLS(IterativeSeparator):
    """Least-squares time-invariant demixing towards the true images (see the module docstring)."""

    needs_references = True

    def forward_wav(self, wav, references, callback=None, lengths=None):
        batch = self.check_input(wav)
        references = check_references(batch, references, self.n_src)
        if lengths is not None:
            lengths = check_lengths(lengths, batch, self.stft_config.n_fft)
            return by_length(lambda w, refs: self.forward_wav(w, refs, callback), batch, lengths, references)
        dtype = torch.float64
        X = stft(batch.to(dtype), self.stft_config).transpose(1, 2)  # [batch, freq, mics, frames]
        S = stft(references.to(dtype), self.stft_config).transpose(1, 2)  # [batch, freq, src, frames]
        Xh = X.mH
        gram = X @ Xh
        load = 1e-10 * gram.diagonal(dim1=-2, dim2=-1).real.mean(-1).clamp_min(1e-30)
        gram = gram + load[..., None, None] * torch.eye(X.shape[2], dtype=X.dtype, device=X.device)
        demix = torch.linalg.solve(gram, (S @ Xh).mH, left=True).mH  # S X^H (X X^H)^-1
        estimates = istft((demix @ X).transpose(1, 2), batch.shape[-1], self.stft_config).to(wav.dtype)
        return estimates[0] if wav.dim() == 2 else estimates


class IdealMask(IterativeSeparator):
    """Ideal binary or ratio mask at the reference microphone (see the module docstring).

    Args:
        kind: ``"ibm"`` or ``"irm"``.
        **kwargs: see :class:`IterativeSeparator` (its STFT and ``ref_mic``; no iterations).

    References:
        [1] D. Wang, "On ideal binary mask as the computational goal of auditory scene analysis", in Speech
            Separation by Humans and Machines, P. Divenyi, Ed., Springer, 2005.
        [2] Y. Wang, A. Narayanan, D. Wang, "On training targets for supervised speech separation", IEEE/ACM
            Trans. Audio, Speech, Lang. Process., vol. 22, no. 12, 2014.
    """

    needs_references = True
    KINDS = tuple(e.args["kind"] for e in catalogue.entries("oracle") if "kind" in e.args)  #: the catalogue's masks

    def __init__(self, kind: str = "irm", **kwargs):
        a = check_args(type(self), kind=kind)
        super().__init__(**kwargs)
        self.kind = a["kind"]

    def get_model_args(self):
        return {**super().get_model_args(), "kind": self.kind}

    def forward_wav(self, wav, references, callback=None, lengths=None):
        batch = self.check_input(wav)
        references = check_references(batch, references, self.n_src)
        if lengths is not None:
            lengths = check_lengths(lengths, batch, self.stft_config.n_fft)
            return by_length(lambda w, refs: self.forward_wav(w, refs, callback), batch, lengths, references)
        dtype = torch.float64
        X = stft(batch[:, self.ref_mic : self.ref_mic + 1].to(dtype), self.stft_config)  # [batch, 1, freq, frames]
        magnitude = stft(references.to(dtype), self.stft_config).abs()  # [batch, src, freq, frames]
        if self.kind == "ibm":
            mask = torch.nn.functional.one_hot(magnitude.argmax(1), self.n_src).movedim(-1, 1).to(dtype)
        else:
            mask = magnitude / magnitude.sum(1, keepdim=True).clamp_min(1e-12)
        estimates = istft(mask * X, batch.shape[-1], self.stft_config).to(wav.dtype)
        return estimates[0] if wav.dim() == 2 else estimates
