"""Supervised NMF source models in the IP engine ("supervised ILRMA"): fixed per-speaker bases."""

import torch

from ..separation.source_models import SupervisedNMF, learn_bases
from ..separation.stft import StftConfig, stft
from .arguments import check_args
from .base import IterativeSeparator, ilrma_start


class SupervisedILRMA(IterativeSeparator):
    """ILRMA whose NMF bases are learned beforehand on each source's speaker and kept fixed;
    the activations follow the mixture (multiplicative updates: ``J`` never rises). Output ``n``
    is modelled by speaker ``n``'s bases; from the identity start the outputs usually come out in
    that order when the speakers' bases differ, but the algorithm does not guarantee it (on two
    similar synthetic sources they came out swapped).

    Args:
        n_src, n_freq, n_basis: shape of the bases buffer ``[n_src, n_freq, n_basis]``
            (``n_freq = n_fft // 2 + 1``); fill it with :meth:`fit_bases` or load a saved model.
        seed: seed of the activations' start.
        init_ilrma: ILRMA iterations first (2 free bases per source, as the deep separators'
            ``init_ilrma``); 0 (default): the identity start. On reverberant real speech the
            identity start with fixed bases learned on dry speech separated worse than the
            mixture (``docs/gass.md``).
        **kwargs: see :class:`IterativeSeparator`.

    References:
        [1] D. Kitamura, N. Ono, H. Sawada, H. Kameoka, H. Saruwatari, "Determined blind source separation
            unifying independent vector analysis and nonnegative matrix factorization", IEEE/ACM Trans.
            Audio, Speech, Lang. Process., vol. 24, no. 9, 2016.
        [2] C. Fevotte, N. Bertin, J.-L. Durrieu, "Nonnegative matrix factorization with the Itakura-Saito
            divergence: With application to music analysis", Neural Computation, vol. 21, no. 3, 2009. (the bases)
    """

    def __init__(self, n_src: int = 2, n_freq=None, n_basis: int = 20, seed: int = 0, init_ilrma: int = 0, **kwargs):
        a = check_args(
            type(self),
            n_basis=n_basis,
            seed=seed,
            init_ilrma=init_ilrma,
            **({} if n_freq is None else {"n_freq": n_freq}),
        )
        super().__init__(n_src=n_src, **kwargs)
        self.init_ilrma = a["init_ilrma"]
        n_freq = a.get("n_freq", self.stft_config.n_fft // 2 + 1)
        if n_freq != self.stft_config.n_fft // 2 + 1:
            raise ValueError(
                f"{type(self).__name__}: n_freq={n_freq} bins, but n_fft={self.stft_config.n_fft} "
                f"gives {self.stft_config.n_fft // 2 + 1}."
            )
        self.n_basis, self.seed = a["n_basis"], a["seed"]
        n_src = self.n_src
        self.register_buffer("bases", torch.ones(n_src, n_freq, self.n_basis))

    def fit_bases(self, speaker_signals, n_iter: int = 200):
        """Learn the bases from one waveform (or list of waveforms) per source, ``[time]`` each, in
        the order of the outputs; returns ``self``."""
        if len(speaker_signals) != self.n_src:
            raise ValueError(
                f"fit_bases needs one training signal set per source ({self.n_src}); got {len(speaker_signals)}"
            )
        config = StftConfig(self.stft_config.n_fft, self.stft_config.hop_length, self.stft_config.window)
        bases = []
        for signals in speaker_signals:
            signals = [signals] if torch.is_tensor(signals) and signals.dim() == 1 else list(signals)
            power = torch.cat(
                [stft(torch.as_tensor(s, dtype=torch.float32)[None, None], config)[0, 0].abs().pow(2) for s in signals],
                dim=-1,
            )  # [freq, frames]
            bases.append(learn_bases(power, self.n_basis, n_iter, self.seed))
        with torch.no_grad():
            self.bases.copy_(torch.stack(bases))
        return self

    def make_source_model(self):
        return SupervisedNMF(self.bases, seed=self.seed)

    def initial_demix(self, mix_stft):
        return ilrma_start(mix_stft, self.init_ilrma, n_src=self.n_src)

    def get_model_args(self):
        return {
            **super().get_model_args(),
            "n_freq": self.bases.shape[1],
            "n_basis": self.n_basis,
            "seed": self.seed,
            "init_ilrma": self.init_ilrma,
        }
