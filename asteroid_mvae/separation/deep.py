"""Deep generative source models for the engine (MVAE, FastMVAE, FastMVAE2).

A network models the log power of a source's spectrogram without its DC bin
(``n_freq = n_fft / 2`` channels). For each output ``n`` the variance is
``r_n = g_n * exp(decoder(z_n, c_n))``, where the scale ``g_n = mean_{f,t} |y_n|^2 / exp(...)``
is its closed-form maximum-likelihood value; the DC bin takes the variance of bin 1.
The networks see each output's magnitude divided by its root-mean-square and their latent
means (never samples). BatchNorm layers (CVAE, ACVAE) normalise with their running statistics
(``bn_mode="running"``, eval mode; recalibrate them after training) or, as the authors' code
does, with each source's own statistics (``bn_mode="per_source"``).

- :class:`ChimeraSource` (FastMVAE2): encoder -> latent mean and class posterior -> decoder.
- :class:`ACVAESource` (FastMVAE): classifier -> label posterior; encoder(|y|, label) -> z -> decoder.
- :class:`CVAESource` (MVAE): latent and label logits kept between iterations and optimised by
  backpropagating the objective through the frozen decoder (Adam); optionally started from a
  ChimeraACVAE encoder's latent and label (``start_network``).
- :class:`Refinement` (FastMVAE, FastMVAE2; ours, not the papers'): semi-amortized inference, the
  encoder's latent and label start a few Adam steps on the source part of ``J`` through the
  frozen decoder at every iteration (:func:`refine_latent`).
- :class:`FramePriorSource`: the same with a frame prior (GAN generator; GASS) and known speakers.

Shapes: ``power [batch, src, freq, frames]`` (``freq = n_freq + 1``); the networks see
``[batch * src, n_freq, frames]``.
"""

import contextlib
from dataclasses import asdict, dataclass

import torch

from ..networks.layers import per_item_batchnorm
from .source_models import SourceModel

PRECISIONS = ("float32", "bfloat16")
BN_MODES = ("running", "per_source")
MVAE_SCALES = ("profile", "previous")
REFINE_LABELS = ("optimise", "fixed")
MVAE_STARTS = ("uniform", "chimera")


def network_precision(device: torch.device, precision: str):
    """Context for the network passes: plain float32, or bfloat16 autocast (AMX/tensor cores)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def check_choice(name: str, value: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value


def check_variance_step(step: float) -> float:
    if not 0 < float(step) <= 1:
        raise ValueError(f"variance_step must be in (0, 1]; got {step}.")
    return float(step)


def network_input(power: torch.Tensor) -> torch.Tensor:
    """Magnitudes without DC, each output scaled to unit RMS: ``[batch * src, n_freq, frames]``,
    float32 (the networks' dtype, also for a complex128 engine)."""
    power = power[:, :, 1:]
    rms = power.mean((2, 3), keepdim=True).clamp_min(1e-30).sqrt()
    return (power.sqrt() / rms).flatten(0, 1).float()


def with_dc(log_power: torch.Tensor, batch: int) -> torch.Tensor:
    """``[batch * src, n_freq, frames]`` -> ``[batch, src, n_freq + 1, frames]`` (DC copies bin 1)."""
    full = torch.cat([log_power[:, :1], log_power], dim=1)
    return full.unflatten(0, (batch, -1))


def fit_scale(power: torch.Tensor, log_power: torch.Tensor) -> torch.Tensor:
    """Variance ``g * exp(log_power)`` with the ML scale ``g = mean(power / exp(log_power))`` per output."""
    shape = torch.exp(log_power)
    gain = (power / shape).mean((2, 3), keepdim=True)
    return gain * shape


def item_nll(target: torch.Tensor, log_power: torch.Tensor) -> torch.Tensor:
    """``sum_{f,t} log r + |y|^2 / r`` of each item for ``r = g exp(h)`` at the optimal scale ``g``:
    ``FT (log mean(|y|^2 e^{-h}) + 1) + sum h``. ``target, log_power [items, F, T]`` -> ``[items]``."""
    n_bins = target.shape[-2] * target.shape[-1]
    return n_bins * (torch.log((target * torch.exp(-log_power)).mean((-2, -1))) + 1) + log_power.sum((-2, -1))


def profile_nll(power: torch.Tensor, log_power: torch.Tensor) -> torch.Tensor:
    """:func:`item_nll` summed over every output (any leading shape)."""
    return item_nll(power, log_power).sum()


@dataclass(frozen=True)
class Refinement:
    """Semi-amortized inference (ours, not the papers'): at every iteration the encoder's latent
    and label logits start ``steps`` Adam steps (fresh state, rate ``lr``) on each output's part
    of ``J`` (scale at its optimum) through the frozen decoder.

    Args:
        steps: Adam steps per iteration (0: the papers' one-pass update).
        lr: Adam learning rate.
        label: ``"optimise"`` (the class logits move too) or ``"fixed"`` (the encoder's posterior).
        keep_best: per output, the point of least loss seen on the way (the encoder's answer
            included) instead of the last one; costs nothing (every step evaluates its loss).
    """

    steps: int = 0
    lr: float = 0.01
    label: str = "optimise"
    keep_best: bool = True

    def __post_init__(self):
        if int(self.steps) < 0:
            raise ValueError(f"refine_steps must be >= 0; got {self.steps}.")
        if not float(self.lr) > 0:
            raise ValueError(f"refine_lr must be > 0; got {self.lr}.")
        check_choice("refine_label", self.label, REFINE_LABELS)

    def as_model_args(self) -> dict:
        return {f"refine_{key}": value for key, value in asdict(self).items()}


def refine_latent(decode, target, latent, logits, refinement: Refinement) -> torch.Tensor:
    """``refinement.steps`` Adam steps on :func:`item_nll` from the encoder's answer.

    ``decode(latent, label_probs) -> log power [items, F, T]``; ``target [items, F, T]`` (power
    without DC), ``latent [items, ...]``, ``logits [items, L]``. Returns the log power
    ``[items, F, T]`` (float32, detached) of the last or, with ``keep_best``, the best point.
    """
    latent = latent.detach().float().clone().requires_grad_(True)
    logits = logits.detach().float().clone().requires_grad_(refinement.label == "optimise")
    params = [latent, logits] if logits.requires_grad else [latent]
    optimizer = torch.optim.Adam(params, lr=refinement.lr)
    best_loss = best = None
    for step in range(refinement.steps + 1):
        last = step == refinement.steps
        with torch.set_grad_enabled(not last):
            log_power = decode(latent, torch.softmax(logits, -1)).float()
            losses = item_nll(target, log_power)
            total = losses.sum()
        if refinement.keep_best:
            with torch.no_grad():
                if best is None:
                    best_loss, best = losses.detach(), log_power.detach()
                else:
                    better = losses.detach() < best_loss
                    best_loss = torch.where(better, losses.detach(), best_loss)
                    best = torch.where(better[:, None, None], log_power.detach(), best)
        if last:
            break
        optimizer.zero_grad(set_to_none=True)
        for param, grad in zip(params, torch.autograd.grad(total, params)):
            param.grad = grad
        optimizer.step()
    return best if refinement.keep_best else log_power.detach()


def profile_nll_per_output(power: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """``sum_{f,t} log r + |y|^2 / r`` of each output for ``r = g * shape`` at the optimal ``g``:
    ``[batch, src]``."""
    power, shape = power.double(), shape.double()  # a choice between two close values: no float32 ties
    n_bins = power.shape[2] * power.shape[3]
    return n_bins * (torch.log((power / shape).mean((2, 3))) + 1) + torch.log(shape).sum((2, 3))


class NetworkSource(SourceModel):
    """A source model around a network; ``precision`` as in :func:`network_precision`,
    ``bn_mode`` ``"running"`` or ``"per_source"`` (see the module docstring).

    Two options that are not the papers' algorithms (off by default):
    ``monotone=True``: an output keeps its previous variance shape (rescaled to its ML gain)
    whenever the network's new one would raise its part of ``J``; with the IP sweep's decrease,
    ``J`` then never rises. ``variance_step = a < 1``: a damped update, the log variance moves a
    fraction ``a`` of the way to the network's proposal, ``log r <- (1 - a) log r_prev + a log r_net``
    (then rescaled to its ML gain); ``a = 1`` replaces it (the papers').
    """

    def __init__(
        self,
        network,
        precision: str = "float32",
        bn_mode: str = "running",
        monotone: bool = False,
        variance_step: float = 1.0,
        refinement: Refinement = Refinement(),
    ):
        self.network, self.precision = network, precision
        self.bn_mode = check_choice("bn_mode", bn_mode, BN_MODES)
        self.monotone, self._previous = bool(monotone), None
        self.variance_step = check_variance_step(variance_step)
        self.refinement = refinement

    def reset(self, power):
        self._previous = None

    def guard(self, power, variance):
        """``variance`` [batch, src, freq, frames] after the damped step (``variance_step < 1``),
        or per output the previous shape where that one fits ``power`` better (``monotone``)."""
        if self._previous is not None and self.variance_step < 1:
            step = self.variance_step
            variance = fit_scale(power, (1 - step) * torch.log(self._previous) + step * torch.log(variance))
        if self._previous is not None and self.monotone:
            previous = fit_scale(power, torch.log(self._previous))
            keep = profile_nll_per_output(power, previous) < profile_nll_per_output(power, variance)
            variance = torch.where(keep[:, :, None, None], previous, variance)
        if self.monotone or self.variance_step < 1:
            self._previous = variance
        return variance

    def passes(self, device):
        """Context of the network passes: precision and BatchNorm statistics."""
        stack = contextlib.ExitStack()
        stack.enter_context(network_precision(device, self.precision))
        stack.enter_context(per_item_batchnorm(self.network, self.bn_mode == "per_source"))
        return stack

    def variance(self, power, log_power):
        return fit_scale(power, with_dc(log_power.float(), power.shape[0]))

    def decode(self, power, latent, logits):
        """Log power ``[batch * src, n_freq, frames]`` from the encoder's ``latent`` and label
        ``logits``: one decoder pass, or the :class:`Refinement`'s Adam steps from there."""
        n_frames = power.shape[-1]
        with self.passes(power.device):
            if not self.refinement.steps:
                return self.network.decode(latent, torch.softmax(logits.float(), dim=-1), n_frames=n_frames)
            decode = lambda z, probs: self.network.decode(z, probs, n_frames=n_frames)
            return refine_latent(decode, power[:, :, 1:].flatten(0, 1), latent, logits, self.refinement)


class ChimeraSource(NetworkSource):
    """FastMVAE2: one ChimeraACVAE encoder-decoder pass per iteration."""

    def update(self, power):
        with self.passes(power.device):
            mean, _, class_logits = self.network.encode(network_input(power))
        return self.guard(power, self.variance(power, self.decode(power, mean, class_logits)))


class ACVAESource(NetworkSource):
    """FastMVAE: the ACVAE classifier picks the label, its encoder the latent.

    The label is the softmax over labels of the classifier's summed per-frame log-posteriors;
    the authors' code uses the clamped product of the per-frame posteriors itself (not
    renormalised), a small difference on the demo mixtures (``docs/source_models.md``). Their
    product-of-experts option (latent shrunk towards 0 with weight ``alpha``) defaults to
    ``alpha = 0``, the posterior mean used here.
    """

    def update(self, power):
        x = network_input(power)
        with self.passes(power.device):
            logits = self.network.classify_log(x).float()
            mean, _ = self.network.encode(x, torch.softmax(logits, dim=-1))
        return self.guard(power, self.variance(power, self.decode(power, mean, logits)))


class CVAESource(NetworkSource):
    """MVAE: latent ``z`` and label logits optimised through the frozen CVAE decoder.

    Args:
        network: a CVAE (or ACVAE).
        n_steps: Adam steps per iteration.
        lr: Adam learning rate.
        init_steps: Adam steps on the initial outputs before the first demixing update (the
            authors' code: 100).
        prior_weight: weight of the latent's N(0, I) prior ``0.5 ||z||^2`` in the loss (the
            authors': 1; 0: maximum likelihood).
        scale: ``"profile"``: each step's loss has the scale ``g`` at its optimum for the current
            latent; ``"previous"``: ``g`` stays at its value from the last update (the authors').
        precision, bn_mode: as :class:`NetworkSource` (the latent and Adam stay in float32).
        start_network: ``None``: the latent starts at the CVAE encoder's mean for a uniform label;
            a ChimeraACVAE of the same speakers: at its encoder's latent mean and class logits
            (its latent is distilled towards the CVAE's; ours, not the papers').
    The Adam state is kept between iterations.
    """

    def __init__(
        self,
        network,
        n_steps: int = 100,
        lr: float = 0.01,
        precision: str = "float32",
        bn_mode: str = "running",
        init_steps: int = 0,
        prior_weight: float = 0.0,
        scale: str = "profile",
        start_network=None,
    ):
        super().__init__(network, precision, bn_mode)
        self.n_steps, self.lr, self.init_steps, self.prior_weight = n_steps, lr, init_steps, prior_weight
        self.scale = check_choice("scale", scale, MVAE_SCALES)
        self.start_network = start_network

    def reset(self, power):
        x = network_input(power)
        if self.start_network is not None:
            with network_precision(x.device, self.precision):
                mean, _, logits = self.start_network.encode(x)
            self.logits = logits.detach().float().clone()
        else:
            self.logits = torch.zeros(x.shape[0], self.network.n_labels, dtype=x.dtype, device=x.device)
            with per_item_batchnorm(self.network, self.bn_mode == "per_source"):
                mean, _ = self.network.encode(x, torch.softmax(self.logits, -1))
        self.latent = mean.detach().float().clone()
        self.logits.requires_grad_(True)
        self.latent.requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.latent, self.logits], lr=self.lr)
        self.gain = None
        if self.init_steps:
            self.fit_latent(power, self.init_steps)

    def decode(self, n_frames):
        with self.passes(self.latent.device):
            log_power = self.network.decode(self.latent, torch.softmax(self.logits, -1), n_frames=n_frames)
        return log_power.float()

    def loss(self, target, log_power):
        """Source part of J for ``target [outputs, F, T]`` (DC dropped), plus the latent prior."""
        if self.scale == "profile":
            nll = profile_nll(target[:, None], log_power[:, None])
        else:
            nll = (log_power + target * torch.exp(-log_power) / self.gain).sum()
        return nll + 0.5 * self.prior_weight * self.latent.pow(2).sum()

    def fit_latent(self, power, n_steps):
        """``n_steps`` Adam steps on the latent and label logits for the current ``power``."""
        target, previous = power[:, :, 1:].flatten(0, 1), self.scale == "previous"
        if previous and self.gain is None:
            with torch.no_grad():
                self.gain = (target / torch.exp(self.decode(power.shape[-1]))).mean((1, 2), keepdim=True)
        with torch.enable_grad():
            for _ in range(n_steps):
                self.optimizer.zero_grad(set_to_none=True)
                grads = torch.autograd.grad(self.loss(target, self.decode(power.shape[-1])), [self.latent, self.logits])
                self.latent.grad, self.logits.grad = grads
                self.optimizer.step()
        with torch.no_grad():
            log_power = self.decode(power.shape[-1])
            if previous:
                self.gain = (target / torch.exp(log_power)).mean((1, 2), keepdim=True)
        return log_power

    def update(self, power):
        return self.variance(power, self.fit_latent(power, self.n_steps))

    def rescale(self, scale):
        if self.gain is not None:
            self.gain = self.gain * scale.reshape(-1, 1, 1)


class FramePriorSource(NetworkSource):
    """A frame prior (GAN generator, or the decoder of a frame VAE / DAE; GASS, Subakan &
    Smaragdis 2018) as the source model: output ``n`` is modelled by speaker ``labels[n]``; its
    latents (one vector per frame) are optimised by Adam through the frozen generator on the
    source part of ``J`` (scale at its optimum), minus ``critic_weight`` times the critic's mean
    score of the generated frames, plus ``prior_weight * ||h||^2 / 2``, like MVAE's latent.

    With ``critic_weight = 0`` every update is guarded: an output keeps its previous latent when
    the new one would raise its loss; with ``prior_weight = 0`` too, that loss is its part of
    ``J``, so ``J`` never rises.

    Args:
        network: a :class:`~asteroid_mvae.networks.frame_priors.FramePrior`.
        labels: the speaker label of each output (assigned to the outputs by ``assign_steps``), or
            ``None``: the mixture's speakers are unknown training speakers, chosen among all
            labels (the ordered choice of distinct labels of least summed loss).
        n_steps, lr: Adam steps per iteration and learning rate.
        assign_steps: before the first update, every (output, speaker) pair is fitted for this
            many steps, from the same latent draw for every speaker of an output, and the speakers
            go to the outputs in the order of least ``J`` (the outputs of a blind start come in any
            order; the choice does not depend on the order of ``labels``); 0: output ``n`` is
            ``labels[n]``.
        seed: seed of the latents' start (N(0, I), drawn on the CPU).
    """

    def __init__(
        self,
        network,
        labels,
        n_steps: int = 30,
        lr: float = 0.01,
        critic_weight: float = 0.0,
        prior_weight: float = 0.0,
        assign_steps: int = 30,
        seed: int = 0,
    ):
        super().__init__(network)
        self.labels = None if labels is None else [int(l) for l in labels]
        self.n_steps, self.lr = int(n_steps), float(lr)
        self.critic_weight, self.prior_weight = float(critic_weight), float(prior_weight)
        self.assign_steps, self.seed = int(assign_steps), int(seed)
        if self.critic_weight and not hasattr(network, "critic"):
            raise ValueError(f"critic_weight needs a prior with a critic (a FrameGAN); got {type(network).__name__}")

    def one_hot(self, labels, device):
        return torch.nn.functional.one_hot(torch.as_tensor(labels), self.network.n_labels).float().to(device)

    def start(self, n_items, n_frames, device):
        generator = torch.Generator().manual_seed(self.seed)
        return torch.randn(n_items, self.network.latent_dim, n_frames, generator=generator).to(device)

    def losses(self, target, latent, label):
        """Per item: source part of ``J`` at the optimal scale (+ critic and prior terms) -> ``[items]``."""
        log_power = self.network.decode(latent, label)
        n_bins = target.shape[1] * target.shape[2]
        loss = item_nll(target, log_power)
        if self.critic_weight:
            loss = loss - self.critic_weight * n_bins * self.network.critic(log_power, label).mean(1)
        if self.prior_weight:
            loss = loss + 0.5 * self.prior_weight * latent.pow(2).sum((1, 2))
        return loss

    def fit(self, target, latent, label, n_steps):
        """``n_steps`` Adam steps on ``latent`` (a fresh leaf) -> the fitted latent."""
        latent = latent.detach().clone().requires_grad_(True)
        optimizer = torch.optim.Adam([latent], lr=self.lr)
        with torch.enable_grad():
            for _ in range(n_steps):
                optimizer.zero_grad(set_to_none=True)
                (latent.grad,) = torch.autograd.grad(self.losses(target, latent, label).sum(), [latent])
                optimizer.step()
        return latent.detach()

    def reset(self, power):
        B, N, _, T = power.shape
        if self.labels is not None and len(self.labels) != N:
            raise ValueError(f"{N} outputs but {len(self.labels)} speaker labels")
        target = power[:, :, 1:]  # [B, N, F, T]
        if self.labels is None or (self.assign_steps and N > 1):
            self.output_labels, self.latent = self.assign(target)
        else:
            self.output_labels = torch.as_tensor(self.labels).repeat(B, 1)  # [B, N]
            self.latent = self.start(B * N, T, power.device)
        self.label = self.one_hot(self.output_labels.flatten(), power.device)

    def assign(self, target):
        """Speaker labels ``[B, N]`` for the outputs ``target [B, N, F, T]`` (the ordered choice of
        distinct candidates, ``labels`` or all labels, of least summed loss after ``assign_steps``
        steps on every (output, candidate) pair) and the chosen pairs' latents ``[B * N, latent_dim, T]``."""
        import itertools

        B, N, F, T = target.shape
        candidates = list(range(self.network.n_labels)) if self.labels is None else self.labels
        C = len(candidates)
        pairs = target[:, :, None].expand(B, N, C, F, T).flatten(0, 2)  # item (b, output, candidate)
        label = self.one_hot(torch.as_tensor(candidates).repeat(B * N), target.device)
        # every candidate of an output starts from that output's latent (common random numbers: the
        # candidates' costs differ by their label, not by their draws)
        start = self.start(B * N, T, target.device)
        start = start.reshape(B, N, 1, *start.shape[1:]).expand(B, N, C, *start.shape[1:]).flatten(0, 2)
        latent = self.fit(pairs, start, label, max(self.assign_steps, 1))
        with torch.no_grad():
            cost = self.losses(pairs, latent, label).reshape(B, N, C)
        choices = torch.tensor(list(itertools.permutations(range(C), N)), device=target.device)  # [P, N]
        totals = cost[:, torch.arange(N, device=target.device), choices].sum(-1)  # [B, P]
        best = choices[totals.argmin(1)]  # [B, N]: output n gets candidates[best[b, n]]
        chosen = latent.reshape(B, N, C, *latent.shape[1:])[torch.arange(B)[:, None], torch.arange(N)[None], best]
        return torch.as_tensor(candidates, device=target.device)[best].cpu(), chosen.flatten(0, 1)

    def update(self, power):
        target = power[:, :, 1:].flatten(0, 1)
        latent = self.fit(target, self.latent, self.label, self.n_steps)
        if not self.critic_weight:  # guard: never a worse fit than the previous latent
            with torch.no_grad():
                keep = self.losses(target, self.latent, self.label) < self.losses(target, latent, self.label)
            latent = torch.where(keep[:, None, None], self.latent, latent)
        self.latent = latent
        with torch.no_grad():
            log_power = self.network.decode(latent, self.label)
        return self.variance(power, log_power)
