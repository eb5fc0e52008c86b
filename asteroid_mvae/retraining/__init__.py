"""Encoder re-training with mixture signals (Yamaji, Nakashima, Ono, Li, Kameoka) for FastMVAE2.

Stage 1 (:func:`generate_retraining_data`): run FastMVAE2 on mixtures of training speakers
and store every iterate's encoder input. Stage 2 (:func:`retrain`): re-train the encoder
(decoder frozen) with the scaled Itakura-Saito loss. :func:`compare` measures the paper's
claims (J-increase fraction, SI-SDR improvement) for ILRMA, FastMVAE2 and the re-trained model.
"""

from .compare import claim_numbers, compare
from .data import RetrainingDataset, best_permutation, generate_retraining_data, run_and_record
from .system import EncoderRetrainingSystem, add_encoder_dropout, autoencode, scaled_is_divergence
from .train import RetrainConfig, load_retrained, retrain

__all__ = [
    "generate_retraining_data",
    "run_and_record",
    "best_permutation",
    "RetrainingDataset",
    "scaled_is_divergence",
    "autoencode",
    "add_encoder_dropout",
    "EncoderRetrainingSystem",
    "RetrainConfig",
    "retrain",
    "load_retrained",
    "compare",
    "claim_numbers",
]
