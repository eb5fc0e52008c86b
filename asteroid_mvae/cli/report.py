"""``asteroid-mvae report``: merge the shard files of an evaluation folder and write its report
(``final_metrics.json``, ``curves.json``, ``results.md`` and the PNGs)."""

from .evaluate import add_report_arguments, run_report


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "report",
        help="write the report of an evaluation folder (after sharded evaluate runs: --num-shards K)",
        description=__doc__.replace("``", "").split("\n\n")[0],
    )
    add_report_arguments(parser)
    parser.set_defaults(func=run_report)
