"""Deep source-model networks: CVAE, ACVAE, ChimeraACVAE, the frame priors (GAN, VAE, DAE), and
their saved packages.

See :mod:`asteroid_mvae.networks.cvae` for the tensor conventions and
:mod:`asteroid_mvae.networks.package` for how ``input_scale`` is applied.
"""

from .chimera import ChimeraACVAE
from .cvae import ACVAE, CVAE, LOG_POWER_FLOOR, reparameterize
from .frame_priors import FRAME_PRIORS, FrameDAE, FrameGAN, FrameVAE
from .package import NETWORKS, build_network, load_network_package, save_network_package

__all__ = [
    "CVAE",
    "ACVAE",
    "ChimeraACVAE",
    "FrameGAN",
    "FrameVAE",
    "FrameDAE",
    "FRAME_PRIORS",
    "LOG_POWER_FLOOR",
    "NETWORKS",
    "build_network",
    "reparameterize",
    "save_network_package",
    "load_network_package",
]
