"""pyroomacoustics' built-in separators (AuxIVA, ILRMA, FastMNMF2) with the ``forward_wav`` contract.

``forward_wav(wav [batch, mics, time]) -> [batch, n_src, time]`` at the reference
microphone's scale. The STFT is ours (Hamming 2048/1024 by default), the iterations are
pyroomacoustics'; AuxIVA and ILRMA are projected back with ``pra.bss.projection_back``,
FastMNMF2 returns the images at ``mic_index`` itself.
"""

import numpy as np
import torch

from .. import catalogue
from ..models.base import SafeLoadingModel
from ..separation import StftConfig, istft, stft

#: pyroomacoustics' methods: the ``method`` of the catalogue's ``pra_*`` entries.
PRA_METHODS = tuple(entry.args["method"] for entry in catalogue.entries("pyroomacoustics"))


class PraSeparator(SafeLoadingModel):
    """One of ``pra.bss.{auxiva, ilrma, fastmnmf2}`` as an asteroid BaseModel (no parameters).

    Args:
        method: ``"auxiva"``, ``"ilrma"`` or ``"fastmnmf2"``.
        n_iter: iterations (pyroomacoustics' default when ``None``).
        n_src: number of sources (the number of microphones when ``None``).
        ref_mic: microphone the outputs are projected to.
        method_kwargs: passed on, e.g. ``n_components`` (ILRMA, FastMNMF2), ``model`` (AuxIVA).

    References:
        [1] R. Scheibler, E. Bezzam, I. Dokmanic, "Pyroomacoustics: A Python package for audio room
            simulations and array processing algorithms", in Proc. IEEE ICASSP, 2018.
        [2] N. Ono, "Stable and fast update rules for independent vector analysis based on auxiliary
            function technique", in Proc. IEEE WASPAA, 2011 (AuxIVA).
        [3] D. Kitamura, N. Ono, H. Sawada, H. Kameoka, H. Saruwatari, "Determined blind source separation
            unifying independent vector analysis and nonnegative matrix factorization", IEEE/ACM Trans.
            Audio, Speech, Lang. Process., vol. 24, no. 9, 2016 (ILRMA).
        [4] K. Sekiguchi, Y. Bando, A. A. Nugraha, K. Yoshii, T. Kawahara, "Fast multichannel nonnegative
            matrix factorization with directivity-aware jointly-diagonalizable spatial covariance matrices
            for blind source separation", IEEE/ACM Trans. Audio, Speech, Lang. Process., vol. 28, 2020
            (FastMNMF2).
    """

    single_channel = False

    def __init__(
        self,
        method="auxiva",
        n_iter=None,
        n_src=None,
        ref_mic=0,
        n_fft=2048,
        hop_length=1024,
        window="hamming",
        sample_rate=16000,
        seed=0,
        **method_kwargs,
    ):
        super().__init__(sample_rate=sample_rate, in_channels=None)
        if method not in PRA_METHODS:
            raise ValueError(f"Unknown pyroomacoustics method {method!r}; choose one of {PRA_METHODS}.")
        self.method, self.n_iter, self.n_src, self.ref_mic, self.seed = method, n_iter, n_src, ref_mic, seed
        self.stft_config = StftConfig(n_fft, hop_length, window)
        self.method_kwargs = dict(method_kwargs)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """``[batch, mics, time]`` (or ``[mics, time]``) -> ``[batch, n_src, time]``."""
        squeeze = wav.dim() == 2
        wav = wav[None] if squeeze else wav
        if wav.dim() != 3 or wav.shape[1] < 2:
            raise ValueError(
                f"{self.method}: expected a multichannel mixture [batch, mics>=2, time]; got {tuple(wav.shape)}."
            )
        if not 0 <= self.ref_mic < wav.shape[1]:
            raise ValueError(f"{self.method}: ref_mic={self.ref_mic} but the mixture has {wav.shape[1]} microphones.")
        out = torch.stack([self._separate_one(w) for w in wav])
        return out[0] if squeeze else out

    def _separate_one(self, wav: torch.Tensor) -> torch.Tensor:
        import pyroomacoustics as pra

        spec = stft(wav.detach().to(torch.float64), self.stft_config)  # [mics, freq, frames]
        X = spec.permute(2, 1, 0).cpu().numpy()  # pyroomacoustics: [frames, freq, mics]
        kwargs = dict(self.method_kwargs)
        if self.n_iter is not None:
            kwargs["n_iter"] = self.n_iter
        np.random.seed(self.seed)  # ilrma and fastmnmf2 draw their initial NMF from the global generator
        if self.method == "fastmnmf2":
            Y = pra.bss.fastmnmf2(X, n_src=self.n_src, mic_index=self.ref_mic, **kwargs)
        else:
            Y = getattr(pra.bss, self.method)(X, n_src=self.n_src, proj_back=False, **kwargs)
            Y = Y * np.conj(pra.bss.projection_back(Y, X[:, :, self.ref_mic]))[None]
        spec_out = torch.from_numpy(np.ascontiguousarray(Y.transpose(2, 1, 0))).to(spec.device)
        return istft(spec_out, wav.shape[-1], self.stft_config).to(wav.dtype)

    def get_model_args(self):
        cfg = self.stft_config
        return dict(
            method=self.method,
            n_iter=self.n_iter,
            n_src=self.n_src,
            ref_mic=self.ref_mic,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            window=cfg.window,
            sample_rate=self.sample_rate,
            seed=self.seed,
            **self.method_kwargs,
        )
