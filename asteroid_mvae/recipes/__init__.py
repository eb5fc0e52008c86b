"""The steps of the ``egs/*/run.sh`` recipes: ``asteroid-mvae recipe <step> --help``.

Every recipe calls the same steps; recipes differ only in their ``local/conf.yml`` and
corpus folders. Steps: ``conf`` (read the recipe configuration, ``--set`` overrides checked
by :mod:`.schema`), ``prepare`` (check the corpora), ``simulate`` (reverberant training and
test sets), ``train`` (source models), ``build-separators`` (MVAE/FastMVAE/FastMVAE2
separators from network packages), ``collect`` (one report over every number of sources) and
``publish``. The other stages are commands of their own (``asteroid-mvae train`` for the PIT
baselines, ``evaluate``, ``report``, ``retrain-data``, ``retrain``). Each step module has
``add_arguments(parser)`` and ``run(args)``; importing them does not import torch by itself.
"""

#: step name on the command line -> module of this package.
STEPS = {
    "conf": "conf",
    "prepare": "prepare",
    "simulate": "simulate",
    "train": "train",
    "build-separators": "build_separators",
    "collect": "collect",
    "publish": "publish",
}
