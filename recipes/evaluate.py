"""Evaluate separators and write the report: ``python -m recipes.evaluate --test-csv ... --out ...``.

Sharded over K processes with torchrun (each takes every K-th mixture; rank 0 merges when all are done,
or run ``python -m recipes.report --out ... --num-shards K`` afterwards)::

    torchrun --nproc_per_node 4 -m recipes.evaluate --shard-from-env --test-csv test.csv --out exp/eval
"""
import argparse
import sys

from asteroid_mvae.cli import CliError
from asteroid_mvae.cli.evaluate import add_arguments, run


def main(argv=None) -> int:
    args = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv)
    try:
        return run(args)
    except CliError as err:
        print(f"recipes.evaluate: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from asteroid_mvae.cli import show_package_logs

    show_package_logs()  # progress lines in the stage logs
    sys.exit(main())
