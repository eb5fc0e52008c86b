"""Training of the source-model networks (asteroid ``System`` + Lightning).

Entry points: :func:`train` (a configuration dict, e.g. from YAML), :func:`train_cvae`,
:func:`train_acvae`, :func:`train_chimera`; configurations from :func:`make_config`
(presets ``"paper"``: the authors' 1000 GPU epochs, ``"cpu"``: < 1 hour on 2 cores).
"""

from .presets import PRESETS, make_config
from .run import train, train_acvae, train_chimera, train_cvae
from .sampling import BalancedSpeakerSampler
from .systems import ACVAESystem, ChimeraSystem, CVAESystem

__all__ = [
    "PRESETS",
    "make_config",
    "train",
    "train_cvae",
    "train_acvae",
    "train_chimera",
    "BalancedSpeakerSampler",
    "CVAESystem",
    "ACVAESystem",
    "ChimeraSystem",
]
