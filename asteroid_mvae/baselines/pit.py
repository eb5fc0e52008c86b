"""Single-channel PIT baselines: asteroid ConvTasNet / DPRNNTasNet and speechbrain's SepFormer.

All three are asteroid BaseModels (``[batch, time] -> [batch, n_src, time]``) trained with
asteroid's ``System`` and ``PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")`` on the
reference-microphone channel of a multichannel dataset. ``size="tiny"`` gives CPU-sized
networks for tests and smoke runs, ``size="standard"`` the published sizes.
"""

import torch
from asteroid.masknn import activations  # noqa: F401  (asteroid registry side effects)

from .. import catalogue
from ..models.base import SafeLoadingModel

PIT_MODELS = catalogue.names("pit")  #: the catalogue's PIT networks
HUB_SEPFORMER = "speechbrain/sepformer-wsj02mix"

#: Network sizes. "standard" follows the asteroid recipes (ConvTasNet, DPRNN) and the
#: SepFormer paper / speechbrain's WSJ0-2mix hyper-parameters.
SIZES = {
    "convtasnet": {
        "tiny": dict(
            n_blocks=2, n_repeats=1, bn_chan=16, hid_chan=32, skip_chan=16, n_filters=32, kernel_size=16, stride=8
        ),
        "standard": dict(
            n_blocks=8, n_repeats=3, bn_chan=128, hid_chan=512, skip_chan=128, n_filters=512, kernel_size=16, stride=8
        ),
    },
    "dprnn": {
        "tiny": dict(n_filters=32, bn_chan=16, hid_size=16, chunk_size=50, n_repeats=1, kernel_size=16, stride=8),
        "standard": dict(
            n_filters=64, bn_chan=128, hid_size=128, chunk_size=100, n_repeats=6, kernel_size=16, stride=8
        ),
    },
    "sepformer": {
        "tiny": dict(n_filters=32, kernel_size=16, n_layers=1, n_heads=2, d_ffn=64, n_blocks=1, chunk_size=50),
        "standard": dict(n_filters=256, kernel_size=16, n_layers=8, n_heads=8, d_ffn=1024, n_blocks=2, chunk_size=250),
    },
}


class SepFormer(SafeLoadingModel):
    """SepFormer from speechbrain's building blocks, as an asteroid BaseModel.

    Encoder (1-D conv, ReLU) -> dual-path transformer masking network (intra- and
    inter-chunk ``SBTransformerBlock``) -> masks applied to the encoding -> transposed-conv decoder.

    Args:
        n_src: sources. n_filters: encoder channels (= transformer width).
        kernel_size: encoder kernel (stride is half of it). n_layers, n_heads, d_ffn: each
        transformer block. n_blocks: dual-path repeats. chunk_size: chunk length ``K``.

    References:
        [1] C. Subakan, M. Ravanelli, S. Cornell, M. Bronzi, J. Zhong, "Attention is all you need in speech
            separation", in Proc. IEEE ICASSP, 2021.
    """

    single_channel = True

    def __init__(
        self,
        n_src=2,
        n_filters=256,
        kernel_size=16,
        n_layers=8,
        n_heads=8,
        d_ffn=1024,
        n_blocks=2,
        chunk_size=250,
        dropout=0.0,
        sample_rate=8000,
    ):
        super().__init__(sample_rate=sample_rate, in_channels=1)
        from speechbrain.lobes.models.dual_path import Decoder, Dual_Path_Model, Encoder, SBTransformerBlock

        self.args = dict(
            n_src=n_src,
            n_filters=n_filters,
            kernel_size=kernel_size,
            n_layers=n_layers,
            n_heads=n_heads,
            d_ffn=d_ffn,
            n_blocks=n_blocks,
            chunk_size=chunk_size,
            dropout=dropout,
        )
        block = lambda: SBTransformerBlock(
            num_layers=n_layers,
            d_model=n_filters,
            nhead=n_heads,
            d_ffn=d_ffn,
            dropout=dropout,
            use_positional_encoding=True,
            norm_before=True,
        )
        self.encoder = Encoder(kernel_size=kernel_size, out_channels=n_filters)
        self.masker = Dual_Path_Model(
            in_channels=n_filters,
            out_channels=n_filters,
            intra_model=block(),
            inter_model=block(),
            num_layers=n_blocks,
            norm="ln",
            K=chunk_size,
            num_spks=n_src,
            skip_around_intra=True,
            linear_layer_after_inter_intra=False,
        )
        self.decoder = Decoder(
            in_channels=n_filters, out_channels=1, kernel_size=kernel_size, stride=kernel_size // 2, bias=False
        )
        self.n_src = n_src

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """``[time]``, ``[batch, time]`` or ``[batch, 1, time]`` -> ``[batch, n_src, time]``."""
        if wav.dim() == 1:
            wav = wav[None]
        if wav.dim() == 3:
            if wav.shape[1] != 1:
                raise ValueError(f"SepFormer takes one channel; got {wav.shape[1]} channels.")
            wav = wav[:, 0]
        length = wav.shape[-1]
        encoded = self.encoder(wav)  # [batch, filters, frames]
        masks = self.masker(encoded)  # [n_src, batch, filters, frames]
        decoded = torch.stack([self.decoder(encoded * m) for m in masks], dim=1)  # [batch, n_src, time']
        if decoded.shape[-1] < length:
            decoded = torch.nn.functional.pad(decoded, (0, length - decoded.shape[-1]))
        return decoded[..., :length]

    def get_model_args(self):
        return dict(self.args, sample_rate=self.sample_rate)


class HubSepFormer(torch.nn.Module):
    """speechbrain's pretrained SepFormer (WSJ0-2mix, 8 kHz), resampled to and from ``sample_rate``."""

    single_channel = True

    def __init__(self, separator, sample_rate=16000, model_rate=8000):
        super().__init__()
        self.separator, self.sample_rate, self.model_rate = separator, sample_rate, model_rate

    def forward_wav(self, wav: torch.Tensor) -> torch.Tensor:
        """``[batch, time]`` -> ``[batch, 2, time]``."""
        import torchaudio.functional as AF

        wav = wav.reshape(-1, wav.shape[-1])
        low = AF.resample(wav, self.sample_rate, self.model_rate)
        est = self.separator.separate_batch(low).transpose(1, 2)  # [batch, src, time]
        est = AF.resample(est, self.model_rate, self.sample_rate)
        return torch.nn.functional.pad(est, (0, max(0, wav.shape[-1] - est.shape[-1])))[..., : wav.shape[-1]]

    forward = forward_wav


def sepformer_from_hub(source=HUB_SEPFORMER, savedir="pretrained_models/sepformer-wsj02mix", sample_rate=16000):
    """Download (or reuse) speechbrain's pretrained SepFormer; a clear error when offline."""
    from speechbrain.inference.separation import SepformerSeparation

    try:
        separator = SepformerSeparation.from_hparams(source=source, savedir=str(savedir))
    except Exception as err:  # network, missing files or hub errors
        raise RuntimeError(
            f"Could not load the pretrained SepFormer {source!r} into {savedir} "
            f"(offline, or the hub is unreachable?): {err}. Train one with "
            "`asteroid-mvae train --model sepformer` instead."
        ) from err
    return HubSepFormer(separator, sample_rate=sample_rate)


def sized(name: str, sizes: dict, size: str, overrides: dict) -> dict:
    """The arguments of ``sizes[size]`` updated with ``overrides``; ``ValueError`` naming the sizes."""
    if size not in sizes:
        raise ValueError(f"Unknown size {size!r} for {name}; choose one of {sorted(sizes)}.")
    return {**sizes[size], **overrides}


def build_pit_model(name: str, n_src: int = 2, sample_rate: int = 16000, size: str = "tiny", **overrides):
    """A fresh PIT network (:data:`PIT_MODELS`: ``convtasnet``, ``dprnn``, ``sepformer``) of the
    given size (``tiny``/``standard``)."""
    entry = catalogue.find(name)
    if entry is None or entry.kind != "pit":
        raise ValueError(f"Unknown PIT model {name!r}; choose one of {PIT_MODELS}.")
    args = sized(entry.name, SIZES[entry.name], size, overrides)
    return entry.load()(n_src=n_src, sample_rate=sample_rate, **args)
