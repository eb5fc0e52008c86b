"""Source models: the variance ``r`` of each separated source, given its power.

All tensors here are ``[batch, src, freq, frames]`` (``power = |y|^2``); a model may return
a variance that broadcasts over frequency (``[batch, src, 1, frames]``).

A source model is a small stateful object created for one separation call:

- :meth:`SourceModel.reset` sees the initial power and sets up state,
- :meth:`SourceModel.update` returns the new variance for the current power (for an MM
  algorithm, the minimiser of the objective's source part, or a step that lowers it),
- :meth:`SourceModel.rescale` is told that the engine multiplied each output's power by
  ``scale [batch, src]`` (output normalisation) so that stateful models stay consistent,
- :meth:`SourceModel.nll` is the source part of the objective ``J``.

Deep models (a network pass, or a latent optimised by backpropagation and kept between
iterations) implement the same four methods.
"""

import torch

from . import cpu_kernels


class SourceModel:
    """Gaussian source model base: ``nll = sum_{f,t,n} log r + |y|^2 / r``."""

    #: Whether per-iteration output normalisation leaves ``J`` unchanged for this model.
    scale_invariant = True
    #: The model needs only ``sum_f |y|^2`` (``[batch, src, 1, frames]``): the engine then passes
    #: that instead of the per-frequency power (spherical IVA contrasts).
    pooled = False

    def reset(self, power: torch.Tensor) -> None:
        """Called once before the first iteration with the initial ``|y|^2``."""

    def update(self, power: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def rescale(self, scale: torch.Tensor) -> None:
        """The outputs' power was multiplied by ``scale [batch, src]``."""

    def nll(self, power: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        """Source part of ``J`` -> ``[batch]``."""
        repeats = power[0, 0].numel() // variance[0, 0].numel()  # variance may broadcast over frequency
        return torch.log(variance).sum((1, 2, 3)) * repeats + (power / variance).sum((1, 2, 3))


def _per_source(scale: torch.Tensor) -> torch.Tensor:
    return scale[:, :, None, None]


class GaussIVA(SourceModel):
    """IVA with a time-varying Gaussian shared by all frequencies: ``r_nt = mean_f |y_nft|^2``."""

    def update(self, power):
        return power.mean(2, keepdim=True)


class LaplaceIVA(SourceModel):
    """AuxIVA with the spherical Laplace contrast ``G(y_n(t)) = ||y_n(t)||_2`` (Ono 2011).

    The auxiliary variable is ``r_nt = ||y_nt||``; its objective ``2 sum_{n,t} ||y_nt||`` is
    majorised by ``sum_{f,t,n} |y|^2 / r + r``, which is what the spatial update minimises.
    The contrast is not scale invariant, so the engine skips output normalisation for it.
    """

    scale_invariant = False
    pooled = True

    def __init__(self):
        self._norms = (None, None)  # (power, ||y_nt||): J's pass and the next update share it

    def norms(self, power):
        """``||y_nt|| = sqrt(sum_f |y_nft|^2)``, ``[batch, src, 1, frames]`` (the last one is reused)."""
        if self._norms[0] is not power:
            self._norms = (power, power.sum(2, keepdim=True).sqrt())
        return self._norms[1]

    def update(self, power):
        return self.norms(power)

    def nll(self, power, variance):
        return 2 * self.norms(power).sum((1, 2, 3))


class NMF(SourceModel):
    """Low-rank NMF variance ``r_n = T_n V_n`` of ILRMA (Kitamura et al. 2016).

    Args:
        n_basis: number of bases ``K`` per source.
        seed: seed of the random initialisation, uniform in [0.1, 1] (drawn on the CPU, so
            the same seed gives the same start on every device).
        eps: floor of the factors.
        init: ``"uniform"`` (torch's generator; every mixture of a batch gets the same draw, so a
            mixture's result does not depend on the rest of its batch) or
            ``"pyroomacoustics"``: NumPy's legacy generator seeded with ``seed``, drawn in the
            order and shapes of ``pyroomacoustics.bss.ilrma`` (bases ``[N, F, K]``, then
            activations ``[N, T, K]``), so that a run started with ``np.random.seed(seed)`` there
            and this model start from the same factors.
    """

    INITS = ("uniform", "pyroomacoustics")

    def __init__(self, n_basis: int = 2, seed: int = 0, eps: float = 1e-10, init: str = "uniform"):
        if init not in self.INITS:
            raise ValueError(f"init must be one of {self.INITS}; got {init!r}.")
        self.n_basis = n_basis
        self.seed = seed
        self.eps = eps
        self.init = init

    def reset(self, power):
        B, N, F, T = power.shape
        # Uniform in [0.1, 1]: factors near zero would barely move under multiplicative updates.
        if self.init == "pyroomacoustics":
            import numpy as np

            rng = np.random.RandomState(self.seed)
            basis = torch.from_numpy(0.1 + 0.9 * rng.rand(N, F, self.n_basis)).expand(B, N, F, self.n_basis)
            activation = torch.from_numpy(0.1 + 0.9 * rng.rand(N, T, self.n_basis)).transpose(1, 2)
            activation = activation.expand(B, N, self.n_basis, T)
        else:
            gen = torch.Generator().manual_seed(self.seed)  # one draw for every mixture of the batch
            basis = 0.1 + 0.9 * torch.rand(N, F, self.n_basis, generator=gen, dtype=torch.float64)
            activation = 0.1 + 0.9 * torch.rand(N, self.n_basis, T, generator=gen, dtype=torch.float64)
            basis, activation = basis.expand(B, -1, -1, -1), activation.expand(B, -1, -1, -1)
        self.basis = basis.to(power).contiguous()
        self.activation = activation.to(power).contiguous()
        self._buffer = None  # the torch updates' one reused buffer (long recordings: one copy)

    def _ratio(self, power, factor_product):
        """``factor_product(1 / r) / factor_product(|y|^2 / r^2)``, with ``r`` from the current factors
        (in one reused buffer)."""
        if self._buffer is None:
            self._buffer = torch.empty_like(power)
        buffer = torch.matmul(self.basis, self.activation, out=self._buffer)
        buffer = buffer.clamp_min_(cpu_kernels.variance_floor(buffer.dtype)).reciprocal_()
        denominator = factor_product(buffer)
        numerator = factor_product(buffer.square_().mul_(power))
        return numerator.div_(denominator)

    def update_bases(self, power):
        """Multiplicative update of the bases (in place)."""
        act_t = self.activation.transpose(-1, -2)
        self.basis.mul_(self._ratio(power, lambda m: m @ act_t).sqrt_()).clamp_min_(self.eps)

    def update_activations(self, power):
        """Multiplicative update of the activations (in place)."""
        basis_t = self.basis.transpose(-1, -2)
        self.activation.mul_(self._ratio(power, lambda m: basis_t @ m).sqrt_()).clamp_min_(self.eps)

    def update(self, power):
        """One multiplicative update of the bases, then of the activations (in place; on the CPU in
        the fused kernel of :mod:`.cpu_kernels`, the same steps)."""
        if cpu_kernels.applies_to_nmf(self.basis, self.activation, power):
            return cpu_kernels.nmf_update(self.basis, self.activation, power, self.eps)
        self.update_bases(power)
        self.update_activations(power)
        return self.basis @ self.activation

    def rescale(self, scale):
        self.basis = self.basis * _per_source(scale)


class SupervisedNMF(NMF):
    """NMF variance ``r_n = T_n V_n`` with fixed bases ``T_n`` learned beforehand on source ``n``'s
    speaker (supervised NMF); only the activations follow the mixture, by the multiplicative
    update of :class:`NMF` (a majorisation-minimisation step: ``J`` does not rise).

    Args:
        bases: ``[src, freq, n_basis]`` non-negative (output ``n`` is modelled by ``bases[n]``,
            so the outputs come out in that order). seed, eps: as :class:`NMF`.
    """

    def __init__(self, bases: torch.Tensor, seed: int = 0, eps: float = 1e-10):
        super().__init__(n_basis=bases.shape[-1], seed=seed, eps=eps)
        self.fixed_bases = bases

    def reset(self, power):
        B, N, F, T = power.shape
        if tuple(self.fixed_bases.shape[:2]) != (N, F):
            raise ValueError(
                f"supervised NMF bases are {tuple(self.fixed_bases.shape)} [src, freq, basis]; "
                f"the outputs need [{N}, {F}, K]"
            )
        super().reset(power)
        self.basis = self.fixed_bases.to(power).expand(B, -1, -1, -1).clamp_min(self.eps).contiguous()

    def update(self, power):
        """One multiplicative update of the activations (the bases stay)."""
        if cpu_kernels.applies_to_nmf(self.basis, self.activation, power):
            return cpu_kernels.nmf_update(self.basis, self.activation, power, self.eps, update_bases=False)
        self.update_activations(power)
        return self.basis @ self.activation

    def rescale(self, scale):
        self.activation = self.activation * _per_source(scale)


def learn_bases(
    power: torch.Tensor, n_basis: int, n_iter: int = 200, seed: int = 0, eps: float = 1e-10, floor: float = 1e-4
) -> torch.Tensor:
    """Itakura-Saito NMF bases of one source's power spectrogram ``[freq, frames]`` (all its training
    frames concatenated) -> ``[freq, n_basis]``, each basis at unit mean (the activations carry the
    scale) and floored at ``floor`` (bins a speaker never used would otherwise get variances near
    1e-10 and make the float32 IP updates ill-conditioned). The model of :class:`SupervisedNMF`:
    Gaussian variances ``r = T V``."""
    power = power.to(torch.float64).clamp_min(eps)
    model = NMF(n_basis=n_basis, seed=seed, eps=eps)
    model.reset(power[None, None])
    for _ in range(n_iter):
        model.update(power[None, None])
    bases = model.basis[0, 0] / model.basis[0, 0].mean(0, keepdim=True)
    return bases.clamp_min(floor).to(torch.float32)


class FixedVariance(SourceModel):
    """A given variance shape ``target [batch, src, freq, frames]`` (e.g. the true source power
    spectrograms: the oracle ceiling of variance models), scaled to each output by its
    maximum-likelihood gain ``g_n = mean(|y_n|^2 / target_n)``.

    Args:
        target: the variance shapes, output ``n`` modelled by ``target[:, n]``.
        floor: floor of ``target``, relative to its mean over frames in each frequency bin.
            With true source powers, a floor of 0.1 separated better than the raw powers
            (floor 1e-6) on simulated rooms (``docs/evaluation.md``, oracle ceilings): tiny
            variances over-weight the frames where only the reverberation of other sources remains.
    """

    def __init__(self, target: torch.Tensor, floor: float = 0.1):
        self.target = target.clamp_min(floor * target.mean(3, keepdim=True).clamp_min(1e-30))

    def update(self, power):
        gain = (power / self.target).mean((2, 3), keepdim=True)
        return gain * self.target


SOURCE_MODELS = {"laplace": LaplaceIVA, "gauss": GaussIVA, "nmf": NMF}  #: models without trained parameters
