"""The separation engine: STFT front end, batched spatial updates, pluggable source models."""

from .dereverb import separate_dereverb
from .engine import IterationState, SeparationResult, separate
from .source_models import (
    NMF,
    SOURCE_MODELS,
    FixedVariance,
    GaussIVA,
    LaplaceIVA,
    SourceModel,
    SupervisedNMF,
    learn_bases,
)
from .spatial import projection_back
from .stft import StftConfig, istft, stft

__all__ = [
    "separate",
    "separate_dereverb",
    "SeparationResult",
    "IterationState",
    "SourceModel",
    "LaplaceIVA",
    "GaussIVA",
    "NMF",
    "SupervisedNMF",
    "learn_bases",
    "FixedVariance",
    "SOURCE_MODELS",
    "StftConfig",
    "stft",
    "istft",
    "projection_back",
]
