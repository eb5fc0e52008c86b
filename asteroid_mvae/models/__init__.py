"""asteroid models of asteroid-mvae, registered with ``asteroid.models`` (``get("ILRMA")``)."""
from asteroid import models as _asteroid_models

from .base import IterativeSeparator, SeparationOutput
from .gass import GASS, FramePriorIVA, SupervisedNMFSeparator
from .iva import ILRMA, AuxIVA
from .mvae import MVAE, DeepSeparator, FastMVAE, FastMVAE2
from .registry import MODEL_NAMES, load_model
from .snmf import SupervisedILRMA

__all__ = [
    "IterativeSeparator", "SeparationOutput", "AuxIVA", "ILRMA", "DeepSeparator", "MVAE", "FastMVAE",
    "FastMVAE2", "SupervisedILRMA", "GASS", "FramePriorIVA", "SupervisedNMFSeparator", "load_model", "MODEL_NAMES",
]


def _register(cls):
    """``asteroid.models.register_model`` raises on a second call: register once."""
    if getattr(_asteroid_models, cls.__name__, None) is not cls:
        _asteroid_models.register_model(cls)


for _cls in (AuxIVA, ILRMA, MVAE, FastMVAE, FastMVAE2, SupervisedILRMA, GASS, FramePriorIVA, SupervisedNMFSeparator):
    _register(_cls)
