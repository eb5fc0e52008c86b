"""Shared python steps of the ``egs/*/run.sh`` recipes (``python -m recipes.<step> --help``).

Every recipe calls the same steps; recipes differ only in their ``local/conf.yml`` and
corpus folders. Steps: ``conf`` (read the recipe configuration), ``prepare`` (check the
corpora), ``simulate`` (reverberant training and test sets), ``train`` (source models),
``build_separators`` (MVAE/FastMVAE/FastMVAE2 separators from network packages),
``train_pit``, ``evaluate``, ``collect`` (one report over every number of sources),
``report`` and ``publish``. Importing this package is cheap (no torch).
"""
