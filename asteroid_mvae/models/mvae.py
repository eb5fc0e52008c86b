"""MVAE, FastMVAE and FastMVAE2 as asteroid models: the engine with deep source models.

Each model carries its network, the training input statistic, the label map and the
separation settings; ``serialize()``/``from_pretrained`` round-trip all of them, and
:meth:`DeepSeparator.from_network_package` builds a separator from a trained network.
"""

import logging
from typing import Optional

from ..compat import plain
from ..networks import ACVAE, CVAE, ChimeraACVAE, load_network_package
from ..networks.package import nll_gap_warning
from ..separation.deep import ACVAESource, ChimeraSource, CVAESource, Refinement
from .arguments import check_args
from .base import IterativeSeparator, ilrma_start

log = logging.getLogger(__name__)


class DeepSeparator(IterativeSeparator):
    """Base of the deep separators (subclasses set ``network_class`` and ``source_class``).

    Args:
        n_labels: number of training speakers ``L`` of the network.
        n_freq: frequency bins the network models (``n_fft / 2``; DC dropped).
        input_scale: global magnitude statistic of the training set (kept for reference;
            at separation time each output is scaled to unit RMS instead).
        label_map: training speaker -> label index.
        training_info: how the network was trained (plain types; the model card's data).
        precision: ``"float32"`` (default, exact) or ``"bfloat16"`` (autocast network passes:
            faster on CPUs with AMX and on GPUs, at a small log-power difference; timings in
            ``benchmarks/results/bench_mvae``).
        bn_mode: BatchNorm statistics at separation (CVAE, ACVAE): ``"running"`` (eval mode,
            default; training recalibrates them) or ``"per_source"`` (each source's own, as the
            authors' code).
        init_ilrma: ILRMA iterations (2 NMF bases, seed 0) run first to initialise the demixing
            matrices; then ``n_iter`` iterations of the deep source model (0: start from the
            identity, the FastMVAE papers').
        monotone: FastMVAE, FastMVAE2: keep an output's previous variance when the network's
            new one would raise ``J`` (``J`` then never rises; not the papers' algorithm; see
            :class:`~asteroid_mvae.separation.deep.NetworkSource`).
        variance_step: FastMVAE, FastMVAE2: fraction ``a`` of the way the log variance moves
            to the network's proposal each iteration (1: the papers' replacement; ``a < 1``: a
            damped step, not the papers' algorithm).
        refine_steps, refine_lr, refine_label, refine_keep_best: FastMVAE, FastMVAE2:
            semi-amortized inference (ours, not the papers'; off by default): at every iteration
            the encoder's latent and label start ``refine_steps`` Adam steps on each output's part
            of ``J`` through the frozen decoder; see
            :class:`~asteroid_mvae.separation.deep.Refinement`. With ``monotone=True`` too, ``J``
            never rises.
        fallback: ``"none"`` (default) or ``"envelope"``: keep the start's outputs (ILRMA's after
            ``init_ilrma`` iterations) where their log broadband envelopes are less correlated than
            the deep iterations' (ours, not the papers'; a guard against outputs that merge
            talkers, measured in ``egs/vcc2018/results/zoo_fallback``; see
            :mod:`~asteroid_mvae.separation.fallback`). The engine's result says where
            (``kept_start``).
        **kwargs: separation settings, see :class:`IterativeSeparator`.
    """

    network_class = None

    def __init__(
        self,
        n_labels: int = 101,
        n_freq: int = 1024,
        input_scale: float = 1.0,
        label_map: Optional[dict] = None,
        training_info: Optional[dict] = None,
        precision: str = "float32",
        bn_mode: str = "running",
        init_ilrma: int = 0,
        monotone: bool = False,
        variance_step: float = 1.0,
        refine_steps: int = 0,
        refine_lr: float = 0.01,
        refine_label: str = "optimise",
        refine_keep_best: bool = True,
        fallback: str = "none",
        **kwargs,
    ):
        a = check_args(
            type(self),
            n_labels=n_labels,
            n_freq=n_freq,
            input_scale=input_scale,
            label_map=label_map,
            training_info=training_info,
            precision=precision,
            bn_mode=bn_mode,
            init_ilrma=init_ilrma,
            monotone=monotone,
            variance_step=variance_step,
            refine_steps=refine_steps,
            refine_lr=refine_lr,
            refine_label=refine_label,
            refine_keep_best=refine_keep_best,
            fallback=fallback,
        )
        super().__init__(**kwargs)
        self.fallback = a["fallback"]
        self.monotone = a["monotone"]
        self.variance_step = a["variance_step"]
        self.refinement = Refinement(a["refine_steps"], a["refine_lr"], a["refine_label"], a["refine_keep_best"])
        self.init_ilrma = a["init_ilrma"]
        self.precision, self.bn_mode = a["precision"], a["bn_mode"]
        n_freq = a["n_freq"]
        if n_freq != self.stft_config.n_fft // 2:
            raise ValueError(
                f"{type(self).__name__}: the network models n_freq={n_freq} bins but "
                f"n_fft={self.stft_config.n_fft} gives {self.stft_config.n_fft // 2} (DC dropped)."
            )
        self.network = self.network_class(n_labels=a["n_labels"], n_freq=n_freq)
        self.input_scale = a["input_scale"]
        self.label_map = {str(k): int(v) for k, v in (a["label_map"] or {}).items()}
        self.training_info = plain(dict(a["training_info"] or {}))

    @classmethod
    def from_network_package(cls, path, **kwargs):
        """A separator around a trained network package (``asteroid-mvae train`` output)."""
        network, package = load_network_package(path)
        if not isinstance(network, cls.network_class):
            raise ValueError(
                f"{path} holds a {package['network']}; {cls.__name__} needs a {cls.network_class.__name__}."
            )
        kwargs.setdefault("n_fft", 2 * network.n_freq)
        kwargs.setdefault("hop_length", kwargs["n_fft"] // 2)
        model = cls(
            **package["network_args"],
            input_scale=package["input_scale"],
            label_map=package["label_map"],
            training_info=package.get("training", {}),
            **kwargs,
        )
        model.network.load_state_dict(network.state_dict())
        warning = nll_gap_warning(package.get("training", {}).get("final_metrics", {}))
        if warning and kwargs.get("bn_mode", "running") == "running":
            log.warning("%s: %s", path, warning)
        return model.eval()

    def separate_with_history(self, wav, callback=None, source_model=None):
        was_training = self.training
        self.eval()  # BatchNorm/GroupNorm statistics of training, no dropout
        try:
            return super().separate_with_history(wav, callback, source_model)
        finally:
            self.train(was_training)

    def get_model_args(self):
        return {
            **super().get_model_args(),
            **self.network.get_config(),
            "input_scale": self.input_scale,
            "label_map": dict(self.label_map),
            "training_info": self.training_info,
            "precision": self.precision,
            "bn_mode": self.bn_mode,
            "init_ilrma": self.init_ilrma,
            "monotone": self.monotone,
            "variance_step": self.variance_step,
            **self.refinement.as_model_args(),
            "fallback": self.fallback,
        }

    def falls_back(self):
        return self.fallback == "envelope"

    def initial_demix(self, mix_stft):
        return ilrma_start(mix_stft, self.init_ilrma, self.taps, self.delay, self.n_src)  # with taps: ILRMA-T


class FastMVAE2(DeepSeparator):
    """FastMVAE2: ChimeraACVAE source model, one network pass per iteration.

    The ChimeraACVAE's encoder infers each output's latent and speaker posterior in one pass and
    its decoder gives the variance; the IP update follows. Encoder re-training with mixture signals
    (:mod:`asteroid_mvae.retraining`) returns a model of this class.

    References:
        [1] L. Li, H. Kameoka, S. Makino, "FastMVAE2: On improving and accelerating the fast variational
            autoencoder-based source separation algorithm for determined mixtures", IEEE/ACM Trans. Audio,
            Speech, Lang. Process., vol. 31, 2023.
    """

    network_class = ChimeraACVAE

    def make_source_model(self):
        return ChimeraSource(
            self.network, self.precision, self.bn_mode, self.monotone, self.variance_step, self.refinement
        )


class FastMVAE(DeepSeparator):
    """FastMVAE: ACVAE classifier -> label, encoder -> latent, decoder -> variance.

    References:
        [1] L. Li, H. Kameoka, S. Inoue, S. Makino, "FastMVAE: A fast optimization algorithm for the
            multichannel variational autoencoder method", IEEE Access, vol. 8, 2020.
    """

    network_class = ACVAE

    def make_source_model(self):
        return ACVAESource(
            self.network, self.precision, self.bn_mode, self.monotone, self.variance_step, self.refinement
        )


class MVAE(DeepSeparator):
    """MVAE: CVAE latent and label optimised by backpropagation.

    Default protocol, the MVAE paper's: 30 ILRMA iterations initialise the demixing matrices,
    then ``n_iter = 30`` MVAE iterations of ``n_steps = 100`` Adam steps (lr 0.01); the authors'
    other choices are options (``docs/source_models.md``).

    Args:
        n_steps: Adam steps on the latent per iteration (default 100, the authors').
        lr: Adam learning rate (default 0.01).
        init_ilrma: as :class:`DeepSeparator`, default 30 (the MVAE paper); ``n_iter`` MVAE
            iterations follow (default 30).
        init_steps: Adam steps on the initial outputs before the first demixing update.
        prior_weight: weight of the latent's N(0, I) prior in the loss.
        scale: ``"profile"`` (scale at its optimum in every step) or ``"previous"`` (kept at the
            last update's value, the authors'); see :class:`~asteroid_mvae.separation.deep.CVAESource`.
        start: ``"uniform"`` (the latent starts at the CVAE encoder's mean for a uniform label) or
            ``"chimera"``: at the latent and label logits of a ChimeraACVAE encoder of the same
            speakers, held by the model as ``start_network`` (ours, not the papers'; build it with
            ``from_network_package(cvae, start_package=chimera)``).

    References:
        [1] H. Kameoka, L. Li, S. Inoue, S. Makino, "Supervised determined source separation with
            multichannel variational autoencoder", Neural Computation, vol. 31, no. 9, 2019.
        [2] D. Kitamura, N. Ono, H. Sawada, H. Kameoka, H. Saruwatari, "Determined blind source separation
            unifying independent vector analysis and nonnegative matrix factorization", IEEE/ACM Trans.
            Audio, Speech, Lang. Process., vol. 24, no. 9, 2016 (the ILRMA start).
    """

    network_class = CVAE

    def __init__(
        self,
        n_steps: int = 100,
        lr: float = 0.01,
        init_ilrma: int = 30,
        init_steps: int = 0,
        prior_weight: float = 0.0,
        scale: str = "profile",
        start: str = "uniform",
        **kwargs,
    ):
        kwargs.setdefault("n_iter", 30)
        a = check_args(
            type(self),
            n_steps=n_steps,
            lr=lr,
            init_steps=init_steps,
            prior_weight=prior_weight,
            scale=scale,
            start=start,
        )
        super().__init__(init_ilrma=init_ilrma, **kwargs)
        if self.refinement.steps:
            raise ValueError("refine_steps is FastMVAE's and FastMVAE2's; MVAE fits its latent with n_steps.")
        self.n_steps, self.lr = a["n_steps"], a["lr"]
        self.init_steps, self.prior_weight = a["init_steps"], a["prior_weight"]
        self.scale, self.start = a["scale"], a["start"]
        n_labels, n_freq = self.network.n_labels, self.network.n_freq
        self.start_network = ChimeraACVAE(n_labels=n_labels, n_freq=n_freq) if start == "chimera" else None

    @classmethod
    def from_network_package(cls, path, start_package=None, **kwargs):
        """As :meth:`DeepSeparator.from_network_package`; ``start_package``: a ChimeraACVAE package
        of the same speakers whose encoder starts the latent (``start="chimera"``)."""
        if start_package is None:
            return super().from_network_package(path, **kwargs)
        model = super().from_network_package(path, start="chimera", **kwargs)
        network, package = load_network_package(start_package)
        if not isinstance(network, ChimeraACVAE):
            raise ValueError(f"{start_package} holds a {package['network']}; the start needs a ChimeraACVAE.")
        if {str(k): int(v) for k, v in package["label_map"].items()} != model.label_map:
            raise ValueError(f"{start_package} was trained on other speakers than {path} (label maps differ).")
        model.start_network.load_state_dict(network.state_dict())
        return model.eval()

    def make_source_model(self):
        return CVAESource(
            self.network,
            n_steps=self.n_steps,
            lr=self.lr,
            precision=self.precision,
            bn_mode=self.bn_mode,
            init_steps=self.init_steps,
            prior_weight=self.prior_weight,
            scale=self.scale,
            start_network=self.start_network,
        )

    def get_model_args(self):
        return {
            **super().get_model_args(),
            "n_steps": self.n_steps,
            "lr": self.lr,
            "init_steps": self.init_steps,
            "prior_weight": self.prior_weight,
            "scale": self.scale,
            "start": self.start,
        }
