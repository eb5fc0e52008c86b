"""Write final_metrics.json, curves.json, results.md and the PNGs of an evaluation folder.

``python -m recipes.report --out exp/eval [--num-shards K]`` (merges K shard files first).
"""
import argparse
import sys

from asteroid_mvae.cli import CliError
from asteroid_mvae.cli.evaluate import add_report_arguments, run_report


def main(argv=None) -> int:
    args = add_report_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv)
    try:
        return run_report(args)
    except CliError as err:
        print(f"recipes.report: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from asteroid_mvae.cli import show_package_logs

    show_package_logs()  # progress lines in the stage logs
    sys.exit(main())
