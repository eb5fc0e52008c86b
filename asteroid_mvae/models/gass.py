"""Single-channel supervised separators of Subakan & Smaragdis, "Generative adversarial source
separation" (ICASSP 2018): each source's spectrogram is explained by a prior trained on its
speaker, fitted to the mixture.

- :class:`GASS`: a frame prior (GAN / WGAN generator, or the decoder of a frame VAE / DAE,
  :mod:`asteroid_mvae.networks.frame_priors`): latents ``H^k`` (one vector per frame) and a gain
  per source are optimised by Adam so that ``sum_k g_k f_k(H^k)`` explains the mixture magnitude
  under a divergence (``kl``: generalised Kullback-Leibler / Poisson; ``euclidean``; ``is``:
  Itakura-Saito on powers, sources' powers adding up), minus ``critic_weight`` times the
  critic's score of the generated frames (GAN priors), plus ``prior_weight * ||H||^2 / 2``.
- :class:`SupervisedNMFSeparator`: per-speaker Itakura-Saito NMF bases learned on its training
  frames, activations fitted on the mixture by multiplicative updates.

Both estimate each source by masking the mixture STFT with its share of the model (Wiener-like
masks summing to one): ``s_k = X * m_k / sum_j m_j``, ``m`` the modelled magnitudes (``kl``,
``euclidean``) or powers (``is``, NMF).

Input: ``[batch, 1, time]`` (or ``[batch, time]``, ``[time]``) at ``sample_rate``; output
``[batch, n_src, time]`` in the order of ``speakers``.
"""

from typing import Optional, Sequence

import torch

from ..compat import plain
from ..networks.frame_priors import FRAME_PRIORS, FrameGAN
from ..separation.source_models import SupervisedNMF, learn_bases
from ..separation.stft import StftConfig, istft, stft
from .arguments import check_args
from .base import IterativeSeparator, SafeLoadingModel, engine_level, ilrma_start, restore_level

DIVERGENCES = ("kl", "euclidean", "is")


def mono_batch(wav: torch.Tensor, model_name: str) -> torch.Tensor:
    """``[time]``, ``[batch, time]`` or ``[batch, 1, time]`` -> ``[batch, time]``; a clear error for
    multichannel, empty or non-finite input."""
    wav = torch.as_tensor(wav)
    if wav.dim() == 3:
        if wav.shape[1] != 1:
            raise ValueError(
                f"{model_name} separates single-channel mixtures; got {wav.shape[1]} channels "
                f"(shape {tuple(wav.shape)}): pass one, e.g. wav[:, :1]"
            )
        wav = wav[:, 0]
    elif wav.dim() == 1:
        wav = wav[None]
    elif wav.dim() != 2:
        raise ValueError(
            f"{model_name} expects [batch, 1, time], [batch, time] or [time]; got shape {tuple(wav.shape)}"
        )
    if wav.numel() == 0:
        raise ValueError(f"{model_name}: empty input of shape {tuple(wav.shape)}")
    if wav.is_complex() or not bool(torch.isfinite(wav).all()):
        raise ValueError(f"{model_name} needs real, finite audio samples")
    return wav.float()


def divergence(target: torch.Tensor, model: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean over bins of the divergence of ``target`` from ``model`` (magnitudes; ``is``: powers)."""
    if kind == "euclidean":
        return (target - model).pow(2).mean()
    if kind == "kl":
        return (target * (torch.log(target + 1e-12) - torch.log(model + 1e-12)) - target + model).mean()
    ratio = (target + 1e-12) / (model + 1e-12)
    return (ratio - torch.log(ratio) - 1).mean()


def masked_estimates(spec: torch.Tensor, shares: torch.Tensor) -> torch.Tensor:
    """Mixture STFT ``[batch, F, T]`` and non-negative source models ``[batch, K, F, T]`` ->
    estimate STFTs ``[batch, K, F, T]`` with masks ``shares / sum shares`` (summing to one)."""
    masks = shares / shares.sum(1, keepdim=True).clamp_min(1e-30)
    return masks * spec[:, None]


def speaker_labels(speakers, label_map: dict) -> list:
    """Label indices of ``speakers`` (indices, or speaker names of ``label_map``)."""
    labels = []
    for s in speakers:
        if isinstance(s, str) and not s.isdigit():
            if s not in label_map:
                raise ValueError(f"unknown speaker {s!r}; the model knows {sorted(label_map)}")
            labels.append(label_map[s])
        else:
            labels.append(int(s))
    return labels


def build_prior(owner, network, network_args):
    """The frame prior ``network(**network_args)``; ``ValueError`` naming ``owner`` and the problem."""
    from ..networks.package import build_network

    a = check_args(owner, network=network, network_args=network_args)
    try:
        return build_network(a["network"], dict(a["network_args"] or {}))
    except ValueError as err:
        raise ValueError(f"{owner if isinstance(owner, str) else owner.__name__}: {err}") from None


class SingleChannelSeparator(SafeLoadingModel):
    """STFT, input checks and masking shared by the single-channel supervised separators.

    Args:
        speakers: label index of each output's speaker (length = number of sources).
        n_fft, hop_length, window: STFT. label_map: training speaker -> label index.
    """

    single_channel = True
    needs_speakers = True  #: the evaluation gives each mixture's speakers (``speakers=`` names)
    abstract_model = True

    def __init__(
        self,
        speakers: Sequence[int] = (0, 1),
        n_fft: int = 1024,
        hop_length: int = 256,
        window: str = "hamming",
        label_map: Optional[dict] = None,
        sample_rate: float = 16000,
    ):
        if speakers is None:
            raise ValueError(f"{type(self).__name__}: speakers must list one label per output; got None.")
        a = check_args(
            type(self),
            speakers=speakers,
            n_fft=n_fft,
            hop_length=hop_length,
            window=window,
            label_map=label_map,
            sample_rate=sample_rate,
        )
        super().__init__(sample_rate=a["sample_rate"], in_channels=1)
        self.speakers = a["speakers"]
        self.stft_config = StftConfig(a["n_fft"], a["hop_length"], a["window"])
        self.label_map = {str(k): int(v) for k, v in (a["label_map"] or {}).items()}

    @property
    def n_src(self) -> int:
        return len(self.speakers)

    def labels_of(self, speakers) -> list:
        """Label indices of ``speakers`` (indices, or speaker names of ``label_map``)."""
        return self.speakers if speakers is None else speaker_labels(speakers, self.label_map)

    def source_shares(self, magnitude: torch.Tensor, labels: list) -> torch.Tensor:
        """Mixture magnitudes ``[batch, F, T]`` -> non-negative models ``[batch, K, F, T]``."""
        raise NotImplementedError

    def forward(self, wav: torch.Tensor, speakers=None) -> torch.Tensor:
        """``[batch, 1, time]`` -> ``[batch, n_src, time]`` (``speakers`` overrides the outputs' speakers)."""
        mono = mono_batch(wav, type(self).__name__)
        if mono.shape[-1] < self.stft_config.n_fft:
            raise ValueError(f"Input too short: {mono.shape[-1]} samples < n_fft={self.stft_config.n_fft}.")
        labels = self.labels_of(speakers)
        level = engine_level(mono[:, None])[:, 0]  # [batch, 1]: peaks far from 1 (e.g. 3e38) brought near it
        if bool((level != 1).any()):
            mono = mono / level
        with torch.no_grad():
            spec = stft(mono, self.stft_config)  # [batch, F, T]
        shares = self.source_shares(spec.abs(), labels).detach()
        estimates = masked_estimates(spec, shares)
        return restore_level(istft(estimates, mono.shape[-1], self.stft_config), level[:, :, None], type(self).__name__)

    def forward_wav(self, wav, *args, **kwargs):
        return self(wav, *args, **kwargs)

    def get_model_args(self):
        cfg = self.stft_config
        return dict(
            speakers=list(self.speakers),
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            window=cfg.window,
            label_map=dict(self.label_map),
            sample_rate=float(self.sample_rate),
        )

    def serialize(self):
        conf = super().serialize()
        conf["model_args"], conf["infos"] = plain(conf["model_args"]), plain(conf["infos"])
        return conf


class FramePriorPackage:
    """``from_network_package`` for the separators around a frame prior."""

    @classmethod
    def from_network_package(cls, path, **kwargs):
        """A separator around a trained frame-prior package (``asteroid-mvae train --model
        wgan|gan|frame_vae|frame_dae`` output); ``kwargs``: its other arguments (``speakers``...)."""
        from ..networks import load_network_package

        network, package = load_network_package(path)
        if package["network"] not in FRAME_PRIORS:
            raise ValueError(f"{path} holds a {package['network']}; {cls.__name__} needs one of {sorted(FRAME_PRIORS)}")
        model = cls(
            network=package["network"],
            network_args=package["network_args"],
            input_scale=package["input_scale"],
            label_map=package["label_map"],
            training_info=package.get("training", {}),
            **kwargs,
        )
        model.network.load_state_dict(network.state_dict())
        return model.eval()


class GASS(FramePriorPackage, SingleChannelSeparator):
    """Generative adversarial source separation with a frame prior (see the module docstring).

    Args:
        network, network_args: the frame prior's class name (``FrameGAN``, ``FrameVAE``,
            ``FrameDAE``) and constructor arguments; the weights come with the state dict.
        input_scale: the network's training magnitude scale (its input domain).
        n_steps, lr: Adam steps on the latents and gains per mixture (the authors': 2000), rate.
        divergence: ``kl``, ``euclidean`` or ``is`` (see the module docstring).
        critic_weight: ``lambda`` of the critic term (FrameGAN only; 0: likelihood only).
        prior_weight: weight of ``||H||^2 / 2`` (the VAE's N(0, I) prior; 0 by default).
        seed: seed of the latents' start (N(0, I), drawn on the CPU).
        speakers, n_fft, hop_length, window, label_map, sample_rate: :class:`SingleChannelSeparator`
            (``n_fft`` defaults to the network's ``2 * n_freq``; hop ``n_fft // 4``).

    References:
        [1] Y. C. Subakan, P. Smaragdis, "Generative adversarial source separation", in Proc. IEEE ICASSP, 2018.
    """

    def __init__(
        self,
        network: str = "FrameGAN",
        network_args: Optional[dict] = None,
        input_scale: float = 1.0,
        speakers: Sequence[int] = (0, 1),
        n_steps: int = 2000,
        lr: float = 0.01,
        divergence: str = "kl",
        critic_weight: float = 0.0,
        prior_weight: float = 0.0,
        seed: int = 0,
        n_fft: Optional[int] = None,
        hop_length: Optional[int] = None,
        window: str = "hamming",
        label_map: Optional[dict] = None,
        training_info: Optional[dict] = None,
        sample_rate: float = 16000,
    ):
        a = check_args(
            type(self),
            input_scale=input_scale,
            n_steps=n_steps,
            lr=lr,
            divergence=divergence,
            critic_weight=critic_weight,
            prior_weight=prior_weight,
            seed=seed,
            training_info=training_info,
            **({} if n_fft is None else {"n_fft": n_fft}),
        )
        prior = build_prior(type(self), network, network_args)
        n_fft = a.get("n_fft", 2 * prior.n_freq)
        if n_fft // 2 != prior.n_freq:
            raise ValueError(
                f"GASS: the network models {prior.n_freq} bins (DC dropped) but n_fft={n_fft} gives {n_fft // 2}"
            )
        super().__init__(
            speakers, n_fft, n_fft // 4 if hop_length is None else hop_length, window, label_map, sample_rate
        )
        bad = [s for s in self.speakers if not 0 <= s < prior.n_labels]
        if bad:
            raise ValueError(f"GASS: speaker labels {bad} outside the network's {prior.n_labels} labels")
        if a["critic_weight"] and not isinstance(prior, FrameGAN):
            raise ValueError(f"GASS: critic_weight needs a FrameGAN prior (a critic); {network} has none")
        self.network = prior.requires_grad_(False).eval()
        self.input_scale, self.n_steps, self.lr = a["input_scale"], a["n_steps"], a["lr"]
        self.divergence, self.critic_weight, self.prior_weight = a["divergence"], a["critic_weight"], a["prior_weight"]
        self.seed, self.training_info = a["seed"], plain(dict(a["training_info"] or {}))

    def source_shares(self, magnitude, labels):
        batch, K = magnitude.shape[0], len(labels)
        target = magnitude[:, 1:]  # [batch, F', T] without DC
        rms = target.pow(2).mean((1, 2), keepdim=True).sqrt().clamp_min(1e-12)
        target = target / rms
        label = torch.nn.functional.one_hot(torch.tensor(labels), self.network.n_labels).float()
        label = label.to(magnitude.device).repeat(batch, 1)  # [batch * K, L]
        generator = torch.Generator().manual_seed(self.seed)
        h = torch.randn(batch * K, self.network.latent_dim, target.shape[-1], generator=generator).to(magnitude.device)
        h.requires_grad_(True)
        with torch.no_grad():  # start each gain where the sources' sum matches the mixture's mean
            shape = torch.exp(0.5 * self.network.decode(h, label)).unflatten(0, (batch, K))
            gain = (target.mean((1, 2)) / shape.sum(1).mean((1, 2)).clamp_min(1e-12)).log()
        log_gain = gain[:, None].repeat(1, K).clone().requires_grad_(True)  # [batch, K]
        optimizer = torch.optim.Adam([h, log_gain], lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.n_steps):
                loss = self.loss(target, h, log_gain, label, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            sources = self.source_magnitudes(h, log_gain, label, batch)  # [batch, K, F', T]
            shares = sources.pow(2) if self.divergence == "is" else sources
            return torch.cat([shares[:, :, :1], shares], dim=2)  # DC takes bin 1's share

    def source_magnitudes(self, h, log_gain, label, batch):
        log_power = self.network.decode(h, label).unflatten(0, (batch, -1))
        return torch.exp(0.5 * log_power + log_gain[:, :, None, None])

    def loss(self, target, h, log_gain, label, batch):
        sources = self.source_magnitudes(h, log_gain, label, batch)
        if self.divergence == "is":
            loss = divergence(target.pow(2), sources.pow(2).sum(1), "is")
        else:
            loss = divergence(target, sources.sum(1), self.divergence)
        if self.critic_weight:
            loss = loss - self.critic_weight * self.network.critic(self.network.decode(h, label), label).mean()
        if self.prior_weight:
            loss = loss + 0.5 * self.prior_weight * h.pow(2).mean()
        return loss

    def get_model_args(self):
        return {
            **super().get_model_args(),
            "network": self.network.network_name,
            "network_args": self.network.get_config(),
            "input_scale": self.input_scale,
            "n_steps": self.n_steps,
            "lr": self.lr,
            "divergence": self.divergence,
            "critic_weight": self.critic_weight,
            "prior_weight": self.prior_weight,
            "seed": self.seed,
            "training_info": self.training_info,
        }


class SupervisedNMFSeparator(SingleChannelSeparator):
    """Supervised NMF (the paper's NMF baseline): Itakura-Saito NMF bases per speaker, activations
    of the concatenated bases fitted to the mixture power (``n_iter`` multiplicative updates),
    Wiener masks.

    Args:
        n_labels: speakers with bases (buffer ``[n_labels, n_fft // 2 + 1, n_basis]``; fill it with
            :meth:`fit_bases`). n_basis: bases per speaker. n_iter: updates at separation.
        seed: seed of the activations' start. Others: :class:`SingleChannelSeparator`.

    References:
        [1] Y. C. Subakan, P. Smaragdis, "Generative adversarial source separation", in Proc. IEEE ICASSP, 2018.
        [2] C. Fevotte, N. Bertin, J.-L. Durrieu, "Nonnegative matrix factorization with the Itakura-Saito
            divergence: With application to music analysis", Neural Computation, vol. 21, no. 3, 2009.
    """

    def __init__(
        self,
        n_labels: int = 2,
        n_basis: int = 20,
        n_iter: int = 100,
        seed: int = 0,
        speakers: Sequence[int] = (0, 1),
        n_fft: int = 1024,
        hop_length: int = 256,
        window: str = "hamming",
        label_map: Optional[dict] = None,
        sample_rate: float = 16000,
    ):
        a = check_args(type(self), n_labels=n_labels, n_basis=n_basis, n_iter=n_iter, seed=seed)
        super().__init__(speakers, n_fft, hop_length, window, label_map, sample_rate)
        self.n_labels, self.n_basis, self.n_iter, self.seed = a["n_labels"], a["n_basis"], a["n_iter"], a["seed"]
        bad = [s for s in self.speakers if not 0 <= s < self.n_labels]
        if bad:
            raise ValueError(f"speaker labels {bad} outside the model's {self.n_labels} speakers")
        self.register_buffer("bases", torch.ones(self.n_labels, self.stft_config.n_freq, self.n_basis))

    def fit_bases(self, speaker_signals, n_iter: int = 200):
        """Learn the bases of every label from its training waveforms (a list per label, in label
        order, each ``[time]``); returns ``self``."""
        if len(speaker_signals) != self.n_labels:
            raise ValueError(
                f"fit_bases needs one list of signals per label ({self.n_labels}); got {len(speaker_signals)}"
            )
        bases = []
        for signals in speaker_signals:
            power = torch.cat(
                [
                    stft(torch.as_tensor(s, dtype=torch.float32)[None], self.stft_config)[0].abs().pow(2)
                    for s in signals
                ],
                dim=-1,
            )
            bases.append(learn_bases(power, self.n_basis, n_iter, self.seed))
        with torch.no_grad():
            self.bases.copy_(torch.stack(bases))
        return self

    def source_shares(self, magnitude, labels):
        power = magnitude.pow(2).to(torch.float64)[:, None]  # [batch, 1, F, T]
        bases = self.bases[labels].to(torch.float64)  # [K, F, n_basis]
        model = SupervisedNMF(torch.cat(list(bases), dim=-1)[None], seed=self.seed)
        model.reset(power)
        for _ in range(self.n_iter):
            model.update(power)
        activations = model.activation[:, 0].unflatten(1, (len(labels), self.n_basis))  # [batch, K, n_basis, T]
        return torch.einsum("kfn,bknt->bkft", bases, activations).float()

    def get_model_args(self):
        return {
            **super().get_model_args(),
            "n_labels": self.n_labels,
            "n_basis": self.n_basis,
            "n_iter": self.n_iter,
            "seed": self.seed,
        }


class FramePriorIVA(FramePriorPackage, IterativeSeparator):
    """Multichannel IP separation with a frame prior as the source model (GASS's generators in the
    MVAE engine, :class:`~asteroid_mvae.separation.deep.FramePriorSource`): supervised, the
    mixture's speakers are known (``speakers``, one per output, in any order: they are assigned
    to the outputs by least ``J`` after the ILRMA start).

    Args:
        network, network_args, input_scale, label_map, training_info: the frame prior (see :class:`GASS`).
        speakers: label indices of the mixture's speakers (``n_src`` of them), or ``None``: unknown
            training speakers, chosen among all labels by least ``J`` (give ``n_src``).
        n_steps, lr: Adam steps on the latents per iteration, rate. critic_weight, prior_weight:
            see :class:`~asteroid_mvae.separation.deep.FramePriorSource` (0, 0: ``J`` never rises).
        assign_steps: steps of the speaker-to-output assignment. init_ilrma: ILRMA iterations first
            (default 30, as MVAE); ``n_iter`` (default 30) prior iterations follow.
        seed: seed of the latents' start. **kwargs: :class:`~asteroid_mvae.models.base.IterativeSeparator`.

    References:
        [1] Y. C. Subakan, P. Smaragdis, "Generative adversarial source separation", in Proc. IEEE
            ICASSP, 2018. (the frame priors)
        [2] H. Kameoka, L. Li, S. Inoue, S. Makino, "Supervised determined source separation with
            multichannel variational autoencoder", Neural Computation, vol. 31, no. 9, 2019. (the engine
            with a trained source model)
        [3] D. Kitamura, N. Ono, H. Sawada, H. Kameoka, H. Saruwatari, "Determined blind source separation
            unifying independent vector analysis and nonnegative matrix factorization", IEEE/ACM Trans.
            Audio, Speech, Lang. Process., vol. 24, no. 9, 2016.
    """

    def __init__(
        self,
        network: str = "FrameGAN",
        network_args: Optional[dict] = None,
        input_scale: float = 1.0,
        speakers: Sequence[int] = (0, 1),
        n_steps: int = 30,
        lr: float = 0.01,
        critic_weight: float = 0.0,
        prior_weight: float = 0.0,
        assign_steps: int = 30,
        init_ilrma: int = 30,
        seed: int = 0,
        label_map: Optional[dict] = None,
        training_info: Optional[dict] = None,
        **kwargs,
    ):
        a = check_args(
            type(self),
            input_scale=input_scale,
            speakers=speakers,
            n_steps=n_steps,
            lr=lr,
            critic_weight=critic_weight,
            prior_weight=prior_weight,
            assign_steps=assign_steps,
            init_ilrma=init_ilrma,
            seed=seed,
            label_map=label_map,
            training_info=training_info,
        )
        prior = build_prior(type(self), network, network_args)
        speakers = a["speakers"]
        kwargs.setdefault("n_fft", 2 * prior.n_freq)
        kwargs.setdefault("hop_length", kwargs["n_fft"] // 2)
        kwargs.setdefault("n_iter", 30)
        if speakers is not None:
            kwargs.setdefault("n_src", len(speakers))
        super().__init__(**kwargs)
        if self.stft_config.n_fft // 2 != prior.n_freq:
            raise ValueError(f"the network models {prior.n_freq} bins (DC dropped) but n_fft={self.stft_config.n_fft}")
        self.speakers = None if speakers is None else [int(s) for s in speakers]
        if self.speakers is not None and len(self.speakers) != self.n_src:
            raise ValueError(f"speakers must name one label per source ({self.n_src}); got {self.speakers}")
        if self.speakers is None and prior.n_labels < self.n_src:
            raise ValueError(f"{self.n_src} sources but the network knows {prior.n_labels} speakers")
        bad = [s for s in self.speakers or [] if not 0 <= s < prior.n_labels]
        if bad:
            raise ValueError(f"speaker labels {bad} outside the network's {prior.n_labels} labels")
        if critic_weight and not isinstance(prior, FrameGAN):
            raise ValueError(f"critic_weight needs a FrameGAN prior (a critic); {network} has none")
        self.network = prior.requires_grad_(False).eval()
        self.input_scale, self.n_steps, self.lr = a["input_scale"], a["n_steps"], a["lr"]
        self.critic_weight, self.prior_weight = a["critic_weight"], a["prior_weight"]
        self.assign_steps, self.init_ilrma, self.seed = a["assign_steps"], a["init_ilrma"], a["seed"]
        self.label_map = {str(k): int(v) for k, v in (a["label_map"] or {}).items()}
        self.training_info = plain(dict(a["training_info"] or {}))

    needs_speakers = True  #: the evaluation gives each mixture's speakers (``speakers=`` names)

    def forward(self, wav, callback=None, lengths=None, speakers=None):
        """As :class:`IterativeSeparator`; ``speakers`` (label indices or ``label_map`` names,
        ``n_src`` of them) override the model's for this call."""
        if speakers is None:
            return super().forward(wav, callback, lengths)
        labels = speaker_labels(speakers, self.label_map)
        if len(labels) != self.n_src or not all(0 <= s < self.network.n_labels for s in labels):
            raise ValueError(
                f"speakers must name {self.n_src} of the network's {self.network.n_labels} labels; got {speakers}"
            )
        kept, self.speakers = self.speakers, labels
        try:
            return super().forward(wav, callback, lengths)
        finally:
            self.speakers = kept

    def make_source_model(self):
        from ..separation.deep import FramePriorSource

        return FramePriorSource(
            self.network,
            self.speakers,
            n_steps=self.n_steps,
            lr=self.lr,
            critic_weight=self.critic_weight,
            prior_weight=self.prior_weight,
            assign_steps=self.assign_steps,
            seed=self.seed,
        )

    def initial_demix(self, mix_stft):
        return ilrma_start(mix_stft, self.init_ilrma, n_src=self.n_src)

    def get_model_args(self):
        return {
            **super().get_model_args(),
            "network": self.network.network_name,
            "network_args": self.network.get_config(),
            "input_scale": self.input_scale,
            "speakers": None if self.speakers is None else list(self.speakers),
            "n_steps": self.n_steps,
            "lr": self.lr,
            "critic_weight": self.critic_weight,
            "prior_weight": self.prior_weight,
            "assign_steps": self.assign_steps,
            "init_ilrma": self.init_ilrma,
            "seed": self.seed,
            "label_map": dict(self.label_map),
            "training_info": self.training_info,
        }
