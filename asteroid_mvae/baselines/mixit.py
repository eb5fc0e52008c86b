"""Mixture invariant training (MixIT; Wisdom et al., NeurIPS 2020): unsupervised, single channel.

Training never sees a clean source: two mixtures of the batch are summed into a mixture of
mixtures, the network separates it into ``n_outputs`` signals, and asteroid's
``MixITLossWrapper`` scores the best split of those outputs into two groups whose sums
match the two mixtures (negative SI-SDR). At separation the ``n_src`` most energetic outputs
are kept (a blind choice: the others are what the network keeps for silence or a second
mixture's sources).
"""

import torch
from asteroid.engine import System
from asteroid.losses import MixITLossWrapper, multisrc_neg_sisdr
from asteroid.models import ConvTasNet

from ..models.base import SafeLoadingModel


class MixIT(SafeLoadingModel):
    """A ConvTasNet with ``n_outputs`` outputs trained by MixIT, as an asteroid model:
    ``forward_wav([batch, 1 | mics, time]) -> [batch, n_src, time]`` (the reference microphone
    ``ref_mic`` of multichannel input), the ``n_src`` most energetic outputs in decreasing energy.

    Args:
        n_src: outputs kept at separation. n_outputs: network outputs (MixIT: at least ``2 n_src``).
        ref_mic: channel used from multichannel input. network: ConvTasNet arguments.

    References:
        [1] S. Wisdom, E. Tzinis, H. Erdogan, R. J. Weiss, K. Wilson, J. R. Hershey, "Unsupervised sound
            separation using mixture invariant training", in Proc. NeurIPS, 2020.
        [2] Y. Luo, N. Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for speech
            separation", IEEE/ACM Trans. Audio, Speech, Lang. Process., vol. 27, no. 8, 2019.
    """

    single_channel = True

    def __init__(self, n_src=2, n_outputs=4, ref_mic=0, sample_rate=16000, **network):
        super().__init__(sample_rate=sample_rate, in_channels=None)
        if n_outputs < n_src:
            raise ValueError(f"MixIT keeps n_src={n_src} of its outputs; n_outputs={n_outputs} is too few")
        self.n_src, self.n_outputs, self.ref_mic, self.network_args = int(n_src), int(n_outputs), int(ref_mic), network
        self.network = ConvTasNet(n_src=self.n_outputs, sample_rate=sample_rate, **network)

    def _mono(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() == 3:
            return wav[:, self.ref_mic] if wav.shape[1] > self.ref_mic else wav[:, 0]
        return wav if wav.dim() == 2 else wav[None]

    def all_outputs(self, wav: torch.Tensor) -> torch.Tensor:
        """``[batch, time]`` (or ``[batch, channels, time]``) -> every output ``[batch, n_outputs, time]``."""
        return self.network(self._mono(wav))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        outputs = self.all_outputs(wav)
        order = outputs.pow(2).mean(dim=-1).argsort(dim=1, descending=True)[:, : self.n_src]
        return torch.gather(outputs, 1, order[..., None].expand(-1, -1, outputs.shape[-1]))

    def get_model_args(self):
        return dict(
            n_src=self.n_src,
            n_outputs=self.n_outputs,
            ref_mic=self.ref_mic,
            sample_rate=self.sample_rate,
            **self.network_args,
        )


def mixtures_of_mixtures(mixture: torch.Tensor):
    """Pairs of the batch: ``mixture [batch, time]`` -> (their sums ``[batch // 2, time]``, the pairs
    ``[batch // 2, 2, time]``); an odd last item is left out."""
    pairs = mixture[: mixture.shape[0] // 2 * 2].reshape(-1, 2, mixture.shape[-1])
    return pairs.sum(dim=1), pairs


class MixITSystem(System):
    """asteroid ``System`` training a :class:`MixIT` model on mixtures only: batches
    ``(mixture [batch, time], references)`` whose references are never used."""

    def __init__(self, model, optimizer, loss_func=None, *args, **kwargs):
        super().__init__(
            model, optimizer, loss_func or MixITLossWrapper(multisrc_neg_sisdr, generalized=True), *args, **kwargs
        )

    def common_step(self, batch, batch_nb, train=True):
        mixture, _ = batch  # unsupervised: the references stay unused
        if mixture.shape[0] < 2:
            raise ValueError("MixIT needs batches of at least 2 mixtures (it sums pairs of them)")
        mom, pairs = mixtures_of_mixtures(mixture)
        return self.loss_func(self.model.all_outputs(mom), pairs)


def build_mixit(n_src: int = 2, sample_rate: int = 16000, size: str = "tiny", n_outputs=None, **overrides) -> MixIT:
    """A fresh :class:`MixIT` with a ConvTasNet of asteroid's ``tiny`` / ``standard`` size
    (``baselines.pit.SIZES``) and ``n_outputs`` (default ``2 n_src``) outputs."""
    from .pit import SIZES, sized

    return MixIT(
        n_src=n_src,
        n_outputs=n_outputs or 2 * n_src,
        sample_rate=sample_rate,
        **sized("mixit", SIZES["convtasnet"], size, overrides),
    )
