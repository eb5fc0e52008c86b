"""Comparison baselines: pyroomacoustics' separators and single-channel PIT networks."""

from .deep_clustering import DeepClustering, build_deep_clustering
from .mixit import MixIT, build_mixit
from .pit import PIT_MODELS, SIZES, HubSepFormer, SepFormer, build_pit_model, sepformer_from_hub
from .pra_separators import PRA_METHODS, PraSeparator
from .training import DEFAULT_CONFIG, MIXTURE_MODELS, ReferenceChannelDataset, make_config, train_pit
from .vaebss import VAEBSS, build_vaebss

__all__ = [
    "DeepClustering",
    "build_deep_clustering",
    "MixIT",
    "build_mixit",
    "VAEBSS",
    "build_vaebss",
    "PraSeparator",
    "PRA_METHODS",
    "SepFormer",
    "HubSepFormer",
    "sepformer_from_hub",
    "build_pit_model",
    "PIT_MODELS",
    "MIXTURE_MODELS",
    "SIZES",
    "train_pit",
    "make_config",
    "DEFAULT_CONFIG",
    "ReferenceChannelDataset",
]
