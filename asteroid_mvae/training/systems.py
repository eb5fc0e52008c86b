"""asteroid ``System`` subclasses (Lightning modules) training the source-model networks.

A batch is ``(magnitude [batch, n_freq, frames], label int64 [batch])`` as produced by
``SpeakerSpectrogramDataset``; the network input is ``magnitude / input_scale``.
Each system's :meth:`loss_terms` returns the named loss terms; the total is their weighted sum.
"""

import torch
import torch.nn.functional as F
from asteroid.engine.system import System

from ..networks import CVAE, ChimeraACVAE, reparameterize
from . import losses
from .augment import add_interference


def decoded_magnitude(log_power):
    """Magnitude ``sqrt(exp(log_power))`` of a decoded log power (the classifiers' input domain)."""
    return torch.exp(0.5 * log_power)


def seed_epoch(seed: int, epoch: int, rank: int = 0, stream: int = 0) -> None:
    """Seed torch, NumPy and ``random`` from ``(seed, epoch, rank, stream)`` alone (stream 0:
    training epochs, 1: the BatchNorm recalibration after training)."""
    import random

    import numpy as np

    state = np.random.SeedSequence([int(seed), int(epoch), int(rank), int(stream)]).generate_state(2)
    torch.manual_seed(int(state[0]))
    np.random.seed(int(state[1]))
    random.seed(int(state[1]))


def exact_resume_callback(seed: int):
    """A Lightning callback that makes a training killed and resumed from any step checkpoint
    equal the uninterrupted one, for systems that are not source-model systems (re-training,
    PIT baselines) and train from a :class:`~asteroid_mvae.training.sampling.ResumableLoader`:
    the random streams are reseeded from ``(seed, epoch, batch, rank)`` before every batch, and
    the loader's ``batches_done`` (saved in checkpoints) follows the trained batches."""
    from pytorch_lightning.callbacks import Callback

    class ExactResume(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seed_epoch(seed, trainer.current_epoch, trainer.global_rank, stream=2 + batch_idx)

        def on_train_epoch_start(self, trainer, pl_module):
            self._set_done(trainer, 0)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self._set_done(trainer, batch_idx + 1)

        @staticmethod
        def _set_done(trainer, n):
            loaders = getattr(getattr(trainer.fit_loop, "_combined_loader", None), "flattened", [])
            for loader in loaders:
                if hasattr(loader, "batches_done"):
                    loader.batches_done = n

    return ExactResume()


class SourceModelSystem(System):
    """Common step for all networks: scale the input, compute the terms, log them, sum them.

    Args:
        model: the network being trained.
        optimizer, train_loader, val_loader, scheduler, config: as asteroid's ``System``.
        input_scale: the network input is ``magnitude / input_scale``.
        loss_weights: ``{term name: weight}``; a term not listed has weight 1.
    """

    #: Whether :meth:`loss_terms` has an ``"nll"`` term (the eval-mode validation NLL is then recorded).
    has_nll = True

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
        super().__init__(model, optimizer, None, train_loader, val_loader, scheduler, config)
        self.input_scale = float(input_scale)
        self.loss_weights = dict(loss_weights or {})

    @classmethod
    def make_optimizer(cls, net, optim: dict):
        """The optimizer of ``net`` for the configuration's ``optim`` section (Adam)."""
        return torch.optim.Adam(net.parameters(), lr=optim["lr"], weight_decay=optim["weight_decay"])

    def loss_terms(self, x, labels) -> dict:
        raise NotImplementedError

    def on_train_epoch_start(self):
        """The sampler and datasets drawing random segments per epoch (``set_epoch``) get the
        trainer's epoch (Lightning 2.6 gives the sampler ``epoch + 1`` in the first epoch after a
        resume from an epoch-end checkpoint)."""
        sampler = getattr(self.train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.current_epoch)
        dataset = getattr(self.train_loader, "dataset", None)
        dataset = getattr(dataset, "dataset", dataset)  # unwrap a Subset
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.current_epoch)

    def on_train_batch_start(self, batch, batch_idx):
        """At an epoch's first batch the random streams (latent samples, Gumbel noise) restart
        from ``(seed, epoch, rank)``: an epoch is then a function of the weights at its start, so
        resuming a killed run from an epoch-end checkpoint gives the uninterrupted run's weights
        exactly (seeded here, not at epoch start: the loader's iterator draws from the global
        generator in between, at different moments in a fresh and a resumed run)."""
        if batch_idx == 0:
            seed_epoch(int((self.config or {}).get("seed", 0)), self.current_epoch, self.global_rank)

    def total_loss(self, terms: dict):
        return sum(self.loss_weights.get(name, 1.0) * value for name, value in terms.items())

    def common_step(self, batch, batch_nb, train=True):
        magnitude, labels = batch
        terms = self.loss_terms(magnitude / self.input_scale, labels)
        prefix = "train_" if train else "val_"
        for name, value in terms.items():
            self.log(prefix + name, value.detach(), on_step=train, on_epoch=True, batch_size=labels.shape[0])
        return self.total_loss(terms)

    def one_hot(self, labels):
        return F.one_hot(labels, self.model.n_labels).float()


class CVAESystem(SourceModelSystem):
    """CVAE: NLL of the input under the decoded variance + KL of the latent to N(0, I)."""

    def loss_terms(self, x, labels):
        log_power, mean, logvar = self.model(x, self.one_hot(labels))
        return {"nll": losses.gaussian_nll(x, log_power), "kl": losses.kl_standard_normal(mean, logvar, x.numel())}


class ACVAESystem(CVAESystem):
    """ACVAE: CVAE terms + 0.5 CE(classifier(x), c) + 0.5 CE(classifier(decoded x), c)."""

    def __init__(self, *args, loss_weights=None, **kwargs):
        weights = {"ce_input": 0.5, "ce_decoded": 0.5}
        weights.update(loss_weights or {})
        super().__init__(*args, loss_weights=weights, **kwargs)

    def loss_terms(self, x, labels):
        log_power, mean, logvar = self.model(x, self.one_hot(labels))
        return {
            "nll": losses.gaussian_nll(x, log_power),
            "kl": losses.kl_standard_normal(mean, logvar, x.numel()),
            "ce_input": losses.product_classifier_ce(self.model.classify_log(x), labels),
            "ce_decoded": losses.product_classifier_ce(self.model.classify_log(decoded_magnitude(log_power)), labels),
        }


class ChimeraSystem(SourceModelSystem):
    """ChimeraACVAE distilled from a frozen, pretrained CVAE teacher (FastMVAE2).

    Terms: ``kl`` (student latent to N(0, I)), ``nll`` and ``ce_decoded`` with the true label,
    ``ce_input`` (class head on the input), ``nll_gumbel`` / ``ce_gumbel`` with a Gumbel-softmax
    label drawn from the class posterior, ``teacher_kl`` = KL(teacher z || student z) (weight 10),
    ``is_true`` / ``is_gumbel`` = IS divergence from the teacher's decoded power to the student's
    (teacher decodes its posterior mean with the same label; it is a fixed target, no gradient).
    CE on decoded spectra is always against the true label.

    Args:
        teacher: pretrained ``CVAE`` (or ``ACVAE``) with the same ``n_labels`` and ``n_freq``;
            frozen here (no gradients, kept in eval mode, not in the optimizer).
        gumbel_tau: Gumbel-softmax temperature.
        interference: ``{"prob": p, "sir_db": [low, high]}`` (training steps only; ``None`` or ``p = 0``: off):
            the student's encoder input of a fraction ``p`` of the items has another speaker of
            the batch added (:func:`~asteroid_mvae.training.augment.add_interference`); every
            target (reconstruction, classes, the teacher's latent of the clean input) stays clean.
    """

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
        teacher=None,
        gumbel_tau: float = 1.0,
        interference=None,
    ):
        if not isinstance(model, ChimeraACVAE):
            raise TypeError(f"ChimeraSystem trains a ChimeraACVAE, got {type(model).__name__}")
        if not isinstance(teacher, CVAE):
            raise TypeError(f"the teacher must be a pretrained CVAE/ACVAE, got {type(teacher).__name__}")
        if (teacher.n_labels, teacher.n_freq) != (model.n_labels, model.n_freq):
            raise ValueError(
                f"teacher has n_labels={teacher.n_labels}, n_freq={teacher.n_freq}; "
                f"student has n_labels={model.n_labels}, n_freq={model.n_freq}"
            )
        weights = {"teacher_kl": 10.0}
        weights.update(loss_weights or {})
        super().__init__(
            model, optimizer, train_loader, val_loader, scheduler, config, input_scale=input_scale, loss_weights=weights
        )
        self.teacher = teacher.requires_grad_(False).eval()
        self.gumbel_tau = float(gumbel_tau)
        self.interference = dict(interference or {})  # add_interference's keyword arguments

    def train(self, mode: bool = True):
        """Switch the student's mode; the teacher always stays in eval mode (frozen BatchNorm)."""
        super().train(mode)
        self.teacher.eval()
        return self

    def loss_terms(self, x, labels):
        student, frames = self.model, x.shape[-1]
        true_label = self.one_hot(labels)
        noisy = add_interference(x, labels, **self.interference) if self.training and self.interference else x
        mean, logvar, class_logits = student.encode(noisy)
        z = reparameterize(mean, logvar)
        gumbel_label = F.gumbel_softmax(class_logits, tau=self.gumbel_tau, hard=False)
        log_power = student.decode(z, true_label, frames)
        log_power_gumbel = student.decode(z, gumbel_label, frames)
        with torch.no_grad():
            teacher_mean, teacher_logvar = self.teacher.encode(x, true_label)
            teacher_power = self.teacher.decode(teacher_mean, true_label, frames)
            teacher_power_gumbel = self.teacher.decode(teacher_mean, gumbel_label.detach(), frames)
        return {
            "kl": losses.kl_standard_normal(mean, logvar, x.numel()),
            "nll": losses.gaussian_nll(x, log_power),
            "ce_input": losses.softmax_ce(class_logits, labels),  # of the (possibly interfered) input
            "ce_decoded": losses.softmax_ce(student.encode(decoded_magnitude(log_power))[2], labels),
            "nll_gumbel": losses.gaussian_nll(x, log_power_gumbel),
            "ce_gumbel": losses.softmax_ce(student.encode(decoded_magnitude(log_power_gumbel))[2], labels),
            "teacher_kl": losses.kl_diagonal_gaussians(teacher_mean, teacher_logvar, mean, logvar),
            "is_true": losses.itakura_saito(teacher_power, log_power),
            "is_gumbel": losses.itakura_saito(teacher_power_gumbel, log_power_gumbel),
        }
