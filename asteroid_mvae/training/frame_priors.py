"""Training of the frame priors (:mod:`asteroid_mvae.networks.frame_priors`): GAN and WGAN
(manual optimisation of generator and critic), frame VAE and frame DAE, as asteroid ``System``
subclasses fed by the same speaker-spectrogram batches as the CVAE.

GAN / WGAN step (automatic optimisation: one optimizer, two parameter groups, so that
checkpoints and exact resumption work as for the other networks): every batch updates the
critic; every ``n_critic``-th step (counted over the whole training) also updates the generator,
from the same batch, against the critic's weights before the step (the critic's term of the
loss sees detached generated frames, the generator's term a detached copy of the critic):

- WGAN (Arjovsky et al. 2017, as GASS's authors trained it): critic loss
  ``mean D(fake) - mean D(real)``, weights clipped to ``[-clip, clip]`` after each step,
  RMSprop (no momentum: steps where the generator's term is off leave it unchanged); generator
  loss ``-mean D(fake)``. The validation loss is the critic's Wasserstein estimate
  ``mean D(real) - mean D(fake)``.
- GAN (Goodfellow et al. 2014, non-saturating): discriminator loss
  ``softplus(-D(real)) + softplus(D(fake))``, generator loss ``softplus(-D(fake))``, Adam
  (betas 0.5, 0.999), both updated at every step (``n_critic = 1``).
"""

import torch
import torch.nn.functional as F

from ..networks.frame_priors import FrameGAN, frames_first, log_power_of
from . import losses
from .systems import SourceModelSystem


class FrameVAESystem(SourceModelSystem):
    """Frame VAE: Gaussian NLL of the frames under the decoded variance + KL per bin."""

    def loss_terms(self, x, labels):
        label = self.one_hot(labels)
        mean, logvar = self.model.encode(x, label)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if self.training else mean
        return {
            "nll": losses.gaussian_nll(x, self.model.decode(z, label)),
            "kl": losses.kl_standard_normal(mean, logvar, x.numel()),
        }


class FrameDAESystem(SourceModelSystem):
    """Frame DAE: the frames' NLL under the variance decoded from a noisy copy's code (noise:
    log-normal, ``x * exp(noise_std * n)``; ``config["loss"]["dae_noise"]``, default 0.5)."""

    def loss_terms(self, x, labels):
        label = self.one_hot(labels)
        noise_std = float(((self.config or {}).get("loss") or {}).get("dae_noise", 0.5))
        noisy = x * torch.exp(noise_std * torch.randn_like(x)) if self.training else x
        code, _ = self.model.encode(noisy, label)
        return {"nll": losses.gaussian_nll(x, self.model.decode(code, label))}


class FrameGANSystem(SourceModelSystem):
    """Adversarial training of a :class:`FrameGAN` (``objective`` ``"wgan"`` or ``"gan"``).

    Configuration (``config["loss"]``): ``n_critic`` (critic updates per generator update;
    default 5 for WGAN, 1 for GAN), ``critic_clip`` (WGAN weight clipping, default 0.01).
    """

    objective = "wgan"
    has_nll = False

    def __init__(
        self,
        model,
        optimizer,
        train_loader,
        val_loader=None,
        scheduler=None,
        config=None,
        input_scale: float = 1.0,
        loss_weights=None,
    ):
        if not isinstance(model, FrameGAN):
            raise TypeError(f"{type(self).__name__} trains a FrameGAN, got {type(model).__name__}")
        super().__init__(model, optimizer, train_loader, val_loader, scheduler, config, input_scale, loss_weights)
        loss_config = (config or {}).get("loss") or {}
        default_n_critic = 5 if self.objective == "wgan" else 1
        self.n_critic = int(loss_config.get("n_critic") or default_n_critic)
        self.critic_clip = float(loss_config.get("critic_clip", 0.01))

    @classmethod
    def make_optimizer(cls, net, optim: dict):
        """One optimizer over two parameter groups (generator, critic)."""
        groups = [{"params": list(net.generator_parameters())}, {"params": list(net.critic_parameters())}]
        lr, decay = float(optim["lr"]), float(optim.get("weight_decay", 0.0))
        if cls.objective == "wgan":
            return torch.optim.RMSprop(groups, lr=lr, weight_decay=decay)
        return torch.optim.Adam(groups, lr=lr, betas=(0.5, 0.999), weight_decay=decay)

    def fake(self, label, n_frames):
        h = torch.randn(label.shape[0], self.model.latent_dim, n_frames, device=label.device)
        return self.model.decode(h, label)

    def critic_loss(self, d_real, d_fake):
        if self.objective == "wgan":
            return d_fake.mean() - d_real.mean()
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def generator_loss(self, d_fake):
        return -d_fake.mean() if self.objective == "wgan" else F.softplus(-d_fake).mean()

    def generator_turn(self) -> bool:
        """Whether this step also updates the generator (every ``n_critic``-th step of the run)."""
        return self.global_step % self.n_critic == self.n_critic - 1

    def loss_terms(self, x, labels):
        label = self.one_hot(labels)
        fake = self.fake(label, x.shape[-1])
        d_real = self.model.critic(log_power_of(x), label)
        if not self.training:  # validation: the Wasserstein estimate (WGAN) or the discriminator loss (GAN)
            d_fake = self.model.critic(fake, label)
            if self.objective == "wgan":
                return {"wasserstein": d_real.mean() - d_fake.mean()}
            return {"critic": self.critic_loss(d_real, d_fake)}
        terms = {"critic": self.critic_loss(d_real, self.model.critic(fake.detach(), label))}
        if self.generator_turn():
            params = {name: p.detach() for name, p in self.model.critic_net.named_parameters()}
            d_fake = torch.func.functional_call(self.model.critic_net, params, frames_first(fake, label))
            terms["generator"] = self.generator_loss(d_fake)
        return terms

    def on_train_batch_end(self, outputs, batch, batch_idx):
        """WGAN: clip the critic's weights after its step."""
        if self.objective == "wgan":
            with torch.no_grad():
                for p in self.model.critic_parameters():
                    p.clamp_(-self.critic_clip, self.critic_clip)


class WGANSystem(FrameGANSystem):
    objective = "wgan"


class GANSystem(FrameGANSystem):
    objective = "gan"


def wasserstein_estimate(
    gan: FrameGAN,
    log_power: torch.Tensor,
    label: torch.Tensor,
    steps: int = 200,
    lr: float = 5e-5,
    clip: float = 0.01,
    seed: int = 0,
) -> float:
    """Train a fresh clipped critic of ``gan``'s size (seeded) against ``gan``'s frozen generator for
    ``steps`` RMSprop updates on real frames ``log_power [batch, F, T]`` with ``label [batch, L]``;
    returns its final estimate ``mean D(real) - mean D(fake)``: a measure of how far the
    generator's frames are from the real ones that does not depend on the training critic."""
    torch.manual_seed(seed)
    judge = FrameGAN(gan.n_labels, gan.n_freq, gan.latent_dim, gan.hidden, gan.per_label)
    optimizer = torch.optim.RMSprop(judge.critic_parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        with torch.no_grad():
            h = torch.randn(label.shape[0], gan.latent_dim, log_power.shape[-1], generator=generator)
            fake = gan.decode(h, label)
        loss = judge.critic(fake, label).mean() - judge.critic(log_power, label).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for p in judge.critic_parameters():
                p.clamp_(-clip, clip)
    with torch.no_grad():
        h = torch.randn(label.shape[0], gan.latent_dim, log_power.shape[-1], generator=generator)
        return float(judge.critic(log_power, label).mean() - judge.critic(gan.decode(h, label), label).mean())
