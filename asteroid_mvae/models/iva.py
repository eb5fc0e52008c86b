"""AuxIVA and ILRMA as asteroid models."""

from ..separation.source_models import NMF, GaussIVA, LaplaceIVA
from .arguments import check_args
from .base import IterativeSeparator

CONTRASTS = {"laplace": LaplaceIVA, "gauss": GaussIVA}


class AuxIVA(IterativeSeparator):
    """Auxiliary-function IVA (Ono 2011) with a spherical Laplace or time-varying Gauss contrast.

    Args:
        contrast: ``"laplace"`` (default) or ``"gauss"``.
        **kwargs: see :class:`IterativeSeparator` (``n_src``, ``n_iter``, ``n_fft``, ...).

    References:
        [1] N. Ono, "Stable and fast update rules for independent vector analysis based on auxiliary
            function technique", in Proc. IEEE WASPAA, 2011.
        [2] N. Ono, "Fast stereo independent vector analysis and its implementation on mobile phone", in
            Proc. IWAENC, 2012 (IP2).
        [3] R. Scheibler, N. Ono, "Fast and stable blind source separation with rank-1 updates", in Proc.
            IEEE ICASSP, 2020 (ISS).
    """

    def __init__(self, contrast: str = "laplace", **kwargs):
        a = check_args(type(self), contrast=contrast)
        super().__init__(**kwargs)
        self.contrast = a["contrast"]

    def make_source_model(self):
        return CONTRASTS[self.contrast]()

    def get_model_args(self):
        return {**super().get_model_args(), "contrast": self.contrast}


class ILRMA(IterativeSeparator):
    """Independent low-rank matrix analysis (Kitamura et al. 2016): IVA with NMF source models.

    Args:
        n_basis: NMF bases per source.
        seed: seed of the NMF initialisation.
        init: ``"uniform"`` or ``"pyroomacoustics"`` (the same start as
            ``pyroomacoustics.bss.ilrma`` after ``np.random.seed(seed)``); see
            :class:`~asteroid_mvae.separation.source_models.NMF`.
        **kwargs: see :class:`IterativeSeparator`.

    References:
        [1] D. Kitamura, N. Ono, H. Sawada, H. Kameoka, H. Saruwatari, "Determined blind source separation
            unifying independent vector analysis and nonnegative matrix factorization", IEEE/ACM Trans.
            Audio, Speech, Lang. Process., vol. 24, no. 9, 2016.
        [2] N. Ono, "Stable and fast update rules for independent vector analysis based on auxiliary
            function technique", in Proc. IEEE WASPAA, 2011.
    """

    def __init__(self, n_basis: int = 2, seed: int = 0, init: str = "uniform", **kwargs):
        a = check_args(type(self), n_basis=n_basis, seed=seed, init=init)
        super().__init__(**kwargs)
        self.n_basis, self.seed, self.init = a["n_basis"], a["seed"], a["init"]

    def make_source_model(self):
        return NMF(n_basis=self.n_basis, seed=self.seed, init=self.init)

    def get_model_args(self):
        return {**super().get_model_args(), "n_basis": self.n_basis, "seed": self.seed, "init": self.init}
