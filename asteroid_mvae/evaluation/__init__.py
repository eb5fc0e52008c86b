"""Evaluation: metrics with permutation solving, iteration curves, the evaluation loop and reports."""

from .curves import IterationTracker, j_increase_fraction, normalized_objective
from .evaluate import evaluate, merge_shards, shard_from_env
from .metrics import (
    ALL_METRICS,
    compute_metrics,
    pairwise_si_sdr,
    reorder,
    si_sdr,
    si_sdr_improvement,
    solve_permutation,
)
from .registry import PostFiltered, available_separators, get_separator, register_separator
from .report import make_report

__all__ = [
    "ALL_METRICS",
    "compute_metrics",
    "pairwise_si_sdr",
    "si_sdr",
    "si_sdr_improvement",
    "solve_permutation",
    "reorder",
    "IterationTracker",
    "j_increase_fraction",
    "normalized_objective",
    "evaluate",
    "merge_shards",
    "shard_from_env",
    "make_report",
    "register_separator",
    "get_separator",
    "available_separators",
    "PostFiltered",
]
