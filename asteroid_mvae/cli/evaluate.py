"""``asteroid-mvae evaluate``: evaluate separators on a mixture CSV, then write the report.

Sharded over K processes: ``torchrun --nproc_per_node K -m asteroid_mvae evaluate --shard-from-env ...``,
then ``asteroid-mvae report --out OUT --num-shards K`` (or rank 0 merges when every shard is done).
"""

from pathlib import Path

from .. import catalogue
from . import CliError


def add_arguments(parser):
    parser.add_argument("--test-csv", help="mixture list of asteroid_mvae.data MixtureDataset")
    parser.add_argument(
        "--toy",
        type=int,
        default=0,
        metavar="N",
        help="instead of --test-csv: N tiny simulated 2-source rooms (smoke run)",
    )
    parser.add_argument("--out", required=True, help="output folder (rerun to resume)")
    built = catalogue.names(*catalogue.NAMED_KINDS)
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["auxiva", "ilrma", "pra_auxiva", "pra_ilrma"],
        help=f"catalogue names ({', '.join(built)}) or NAME=PATH of a saved model (.pth, a publish folder)",
    )
    parser.add_argument(
        "--mwf",
        action="store_true",
        help="also a '<method>_mwf' row per IVA-family method (auxiva, ilrma, MVAE, FastMVAE, FastMVAE2): the "
        "same separator followed by the multichannel Wiener post-filter (asteroid-mvae separate --postfilter mwf)",
    )
    parser.add_argument("--metrics", nargs="+", default=["si_sdr", "sdr", "sir", "sar", "stoi", "pesq"])
    parser.add_argument("--n-iter", type=int, default=None, help="iterations of the iterative methods")
    parser.add_argument("--n-fft", type=int, default=2048)
    parser.add_argument("--hop-length", type=int, default=1024)
    parser.add_argument("--ref-mic", type=int, default=0)
    parser.add_argument(
        "--reference",
        choices=("image", "direct"),
        default="image",
        help="score against each source's reverberant image at --ref-mic (default) or its direct "
        "path plus early reflections there (datasets simulated with direct_<k>_path files)",
    )
    parser.add_argument("--no-track", action="store_true", help="do not record per-iteration curves")
    parser.add_argument("--n-examples", type=int, default=2, help="mixtures whose wavs are written")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shard-index", type=int, default=None)
    parser.add_argument("--num-shards", type=int, default=None)
    parser.add_argument(
        "--shard-from-env",
        action="store_true",
        help="take shard index/count from RANK/WORLD_SIZE (torchrun --nproc_per_node K)",
    )
    parser.add_argument("--no-report", action="store_true", help="skip merging and the report")
    return parser


def _dataset(args):
    if args.toy:
        from ..evaluation.toy import ToyMixtureDataset

        if args.reference != "image":
            raise CliError(
                "--toy mixtures have no direct-path references; use --reference image or a simulated --test-csv"
            )
        return ToyMixtureDataset(n_mixtures=args.toy)
    if not args.test_csv:
        raise CliError("give --test-csv PATH (a mixture list) or --toy N")
    if not Path(args.test_csv).is_file():
        raise CliError(f"test CSV {args.test_csv} does not exist")
    try:
        from ..data.datasets import MixtureDataset
    except ImportError as err:
        raise CliError(f"asteroid_mvae.data.datasets.MixtureDataset is not available: {err}")
    from ..data import DataError

    try:
        return MixtureDataset(args.test_csv, ref_mic=args.ref_mic, reference=args.reference)
    except DataError as err:
        raise CliError(str(err)) from None


def _separators(args):
    """``{name: spec}``; names are built per number of sources by ``evaluate``, paths loaded here."""
    from ..evaluation import available_separators, get_separator

    separators = {}
    for spec in args.methods:
        name, _, path = spec.partition("=")
        if path:
            try:
                separators[name] = get_separator(path)
            except (ValueError, FileNotFoundError) as err:
                raise CliError(f"{name}: {err}")
        elif name in available_separators():
            separators[name] = name
        else:
            raise CliError(f"unknown method {name!r}; choose among {', '.join(available_separators())} or NAME=PATH")
    if getattr(args, "mwf", False):
        separators.update(with_postfilter_rows(separators))
    return separators


def with_postfilter_rows(separators: dict) -> dict:
    """``{name + "_mwf": spec}`` for each IVA-family separator of ``separators`` (a catalogue name of
    kind ``iterative``, or a loaded :class:`~asteroid_mvae.models.base.IterativeSeparator`), each the
    same separator with ``postfilter="mwf"``; a name already taken is an error."""
    import copy

    from ..evaluation import PostFiltered
    from ..models.base import IterativeSeparator, with_postfilter

    rows = {}
    for name, spec in separators.items():
        if isinstance(spec, str) and getattr(catalogue.find(spec), "kind", None) == "iterative":
            rows[f"{name}_mwf"] = PostFiltered(spec, "mwf")
        elif isinstance(spec, IterativeSeparator):
            rows[f"{name}_mwf"] = with_postfilter(copy.deepcopy(spec), "mwf")
    taken = sorted(set(rows) & set(separators))
    if taken:
        raise CliError(f"--mwf adds a method named {taken[0]!r}, which --methods already has; rename that one")
    return rows


def run(args):
    from ..evaluation import evaluate, make_report, merge_shards, shard_from_env
    from ..separation import StftConfig
    from ..utils.io import UnsafePathError

    shard_index, num_shards = shard_from_env() if args.shard_from_env else (args.shard_index or 0, args.num_shards or 1)
    stft_config = StftConfig(args.n_fft, args.hop_length)
    dataset = _dataset(args)
    separators = _separators(args)
    try:
        csv_path = evaluate(
            separators,
            dataset,
            args.out,
            metrics_list=args.metrics,
            track_iterations=not args.no_track,
            n_examples=args.n_examples,
            ref_mic=args.ref_mic,
            stft_config=stft_config,
            shard_index=shard_index,
            num_shards=num_shards,
            device=args.device,
            separator_options={"n_iter": args.n_iter} if args.n_iter else None,
        )
    except UnsafePathError as err:
        raise CliError(f"{args.out}: {err}") from None
    print(f"metrics: {csv_path}")
    if args.no_report or (num_shards > 1 and shard_index != 0):
        return 0
    if num_shards > 1:
        try:
            merge_shards(args.out, num_shards)
        except FileNotFoundError as err:  # other shards still running: merge later with `report`
            print(f"not merged yet: {err}")
            return 0
    for kind, path in make_report(args.out).items():
        print(f"{kind}: {path}")
    return 0


def add_report_arguments(parser):
    parser.add_argument("--out", required=True, help="evaluation folder (holding all_metrics.csv or shards/)")
    parser.add_argument("--num-shards", type=int, default=None, help="merge this many shard files first")
    return parser


def run_report(args):
    from ..evaluation import make_report, merge_shards

    try:
        if args.num_shards:
            merge_shards(args.out, args.num_shards)
        paths = make_report(args.out)
    except (FileNotFoundError, ValueError) as err:
        raise CliError(str(err))
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def add_parser(subparsers):
    parser = subparsers.add_parser("evaluate", help="evaluate separators (metrics, timing, curves) and report")
    add_arguments(parser)
    parser.set_defaults(func=run)
