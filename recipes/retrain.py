"""Encoder re-training steps: ``python -m recipes.retrain {data,train,compare} ...``.

Same arguments as ``asteroid-mvae retrain-data``, ``retrain`` and ``retrain-compare``
(``python -m recipes.retrain data --help``). The whole chain on a folder corpus, CPU-sized,
is ``python benchmarks/retrain_vcc2018.py``.
"""
import sys

STEPS = {"data": "retrain-data", "train": "retrain", "compare": "retrain-compare"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in STEPS:
        print(f"usage: python -m recipes.retrain {{{','.join(STEPS)}}} [options] (see --help of each)", file=sys.stderr)
        return 2
    from asteroid_mvae.cli import main as cli_main

    return cli_main([STEPS[argv[0]], *argv[1:]])


if __name__ == "__main__":
    from asteroid_mvae.cli import show_package_logs

    show_package_logs()  # progress lines in the stage logs
    sys.exit(main())
