"""asteroid models of asteroid-mvae, registered with ``asteroid.models`` (``get("ILRMA")``).

Importing this package registers every model class of :mod:`asteroid_mvae.catalogue`, the
baselines' included (``asteroid.models.get("VAEBSS")``), so that ``BaseModel.from_pretrained``
and :func:`load_model` load any saved model of the package.
"""

import importlib

from asteroid import models as _asteroid_models

from .. import catalogue
from .base import IterativeSeparator, SeparationOutput
from .gass import GASS, FramePriorIVA, SupervisedNMFSeparator
from .iva import ILRMA, AuxIVA
from .mvae import MVAE, DeepSeparator, FastMVAE, FastMVAE2
from .registry import MODEL_NAMES, load_model
from .snmf import SupervisedILRMA

__all__ = [
    "IterativeSeparator",
    "SeparationOutput",
    "AuxIVA",
    "ILRMA",
    "DeepSeparator",
    "MVAE",
    "FastMVAE",
    "FastMVAE2",
    "SupervisedILRMA",
    "GASS",
    "FramePriorIVA",
    "SupervisedNMFSeparator",
    "load_model",
    "MODEL_NAMES",
]


def _register(cls):
    """``asteroid.models.register_model`` raises on a second call: register once."""
    if getattr(_asteroid_models, cls.__name__, None) is not cls:
        _asteroid_models.register_model(cls)


def _register_catalogue():
    """Register the class of every catalogue entry of this package (imported now)."""
    for target in catalogue.model_classes():
        module, _, name = target.partition(":")
        _register(getattr(importlib.import_module(module), name))


_register_catalogue()
