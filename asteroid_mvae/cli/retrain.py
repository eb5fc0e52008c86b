"""``asteroid-mvae retrain-data``, ``retrain`` and ``retrain-compare``: encoder re-training for FastMVAE2.

1. ``retrain-data --network chimera/network.pt --mixtures MIX.csv [...] --out DATA`` (or
   ``--corpus`` to simulate mixtures of the network's TRAINING speakers first);
2. ``retrain --network chimera/network.pt --data DATA --out EXP`` -> ``EXP/model.pth``;
3. ``retrain-compare --network chimera/network.pt --retrained EXP/model.pth --test-csv T2.csv T3.csv --out CMP``.
"""

from pathlib import Path

from . import CliError


def add_parser(subparsers):
    data = subparsers.add_parser("retrain-data", help="stage 1 of encoder re-training: store FastMVAE2's iterates")
    data.add_argument("--network", required=True, help="trained ChimeraACVAE package (network.pt)")
    data.add_argument("--out", required=True, help="output folder (rerun to resume)")
    data.add_argument("--mixtures", nargs="+", help="simulate output CSVs (mixtures of training speakers)")
    data.add_argument(
        "--corpus",
        choices=("builtin", "folder", "wsj0", "jvs"),
        help="instead of --mixtures: simulate mixtures of the network's training speakers of this corpus",
    )
    data.add_argument("--corpus-dir", help="corpus folder (folder, wsj0, jvs)")
    data.add_argument("--n-src", type=int, nargs="+", default=[2, 3], help="numbers of sources to simulate")
    data.add_argument("--n-mixtures", type=int, default=100, help="mixtures per number of sources")
    data.add_argument("--duration", type=float, default=10.0, help="seconds per simulated mixture")
    data.add_argument("--n-iter", type=int, default=30, help="FastMVAE2 iterations (iterates 0..n_iter stored)")
    data.add_argument("--oracle", action="store_true", help="also store true source powers (oracle variant)")
    data.add_argument("--max-mixtures", type=int, help="use at most this many mixtures per CSV")
    data.add_argument("--jobs", type=int, default=1)
    data.add_argument("--seed", type=int, default=0)
    data.set_defaults(func=run_data)

    train = subparsers.add_parser("retrain", help="stage 2: re-train FastMVAE2's encoder (decoder frozen, IS loss)")
    train.add_argument("--network", required=True, help="the ChimeraACVAE package the data was made with")
    train.add_argument("--data", required=True, help="retrain-data output folder")
    train.add_argument("--out", required=True, help="experiment folder (checkpoints, logs, model.pth); rerun resumes")
    train.add_argument("--lr", type=float, default=1e-5)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--max-steps", type=int, default=2000)
    train.add_argument("--segment-frames", type=int, default=128, help="0: whole spectrograms")
    train.add_argument("--val-fraction", type=float, default=0.1, help="of the mixtures")
    train.add_argument("--val-every", type=int, default=100, help="validate every N steps")
    train.add_argument("--patience", type=int, default=5, help="early stopping (validations); 0: off")
    train.add_argument("--dropout", type=float, default=0.0, help="after the encoder's norm layers (authors: 0.3)")
    train.add_argument("--early-iterations", type=int, default=0, help="iterations < this are over-weighted")
    train.add_argument("--early-weight", type=float, default=1.0)
    train.add_argument("--iterations", type=int, nargs="+", help="stored iterations to use (default: all)")
    train.add_argument("--oracle", action="store_true", help="targets: true source powers (best permutation)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--accelerator", default="auto")
    train.set_defaults(func=run_train)

    cmp = subparsers.add_parser(
        "retrain-compare", help="ILRMA vs FastMVAE2 vs re-trained: J-increase fraction and SI-SDR improvement"
    )
    cmp.add_argument("--network", required=True, help="the original ChimeraACVAE package")
    cmp.add_argument("--retrained", required=True, help="retrain output model.pth (or its folder)")
    cmp.add_argument("--test-csv", nargs="+", required=True, help="mixture CSVs (e.g. one with N=2, one with N=3)")
    cmp.add_argument("--out", required=True, help="report folder (rerun resumes)")
    cmp.add_argument("--n-iter", type=int, default=50)
    cmp.add_argument("--methods", nargs="+", default=None, help="subset of ILRMA FastMVAE2 FastMVAE2-retrained")
    cmp.add_argument("--metrics", nargs="+", default=["si_sdr"])
    cmp.add_argument("--max-mixtures", type=int)
    cmp.set_defaults(func=run_compare)


def _require(path, label):
    if not Path(path).exists():
        raise CliError(f"{label} not found: {path}")


def _simulate(args):
    """Mixtures of the network's training speakers (its label map) of ``--corpus``."""
    from ..data import DataError, RoomConfig, get_corpus, simulate_mixtures
    from ..networks import load_network_package

    try:
        _, package = load_network_package(args.network)
    except ValueError as err:
        raise CliError(str(err)) from None
    try:
        corpus = get_corpus(args.corpus, args.corpus_dir)
    except (DataError, TypeError) as err:
        raise CliError(f"corpus {args.corpus} ({args.corpus_dir}): {err}")
    speakers = sorted(set(package["label_map"]) & set(corpus.speakers))
    if len(speakers) < max(args.n_src):
        raise CliError(
            f"only {len(speakers)} of the network's training speakers are in the {args.corpus} corpus "
            f"({args.corpus_dir}); {max(args.n_src)} needed"
        )
    corpus = corpus.subset(speakers)
    config = RoomConfig(duration=args.duration)
    return [
        simulate_mixtures(
            corpus,
            Path(args.out) / "mixtures" / f"{n}src",
            n,
            args.n_mixtures,
            seed=args.seed,
            jobs=args.jobs,
            config=config,
        )
        for n in args.n_src
    ]


def _check_sizes(args, *names):
    """Sizes checked before any work (a typo such as ``--n-iter 1000000000`` would run for days):
    :class:`CliError` naming the flag, its value and the allowed range."""
    from ..models.arguments import MAX_ITERATIONS, MAX_SOURCES

    ranges = {
        "n_iter": (1, MAX_ITERATIONS),
        "n_src": (2, MAX_SOURCES),
        "n_mixtures": (1, 10**6),
        "jobs": (1, 1024),
        "max_mixtures": (1, 10**9),
    }
    for name in names:
        low, high = ranges[name]
        value = getattr(args, name)
        for v in value if isinstance(value, list) else [value]:
            if v is not None and not low <= v <= high:
                raise CliError(f"--{name.replace('_', '-')} must be in [{low}, {high}]; got {v}")


def run_data(args):
    from ..retraining import generate_retraining_data

    _check_sizes(args, "n_iter", "n_src", "n_mixtures", "jobs", "max_mixtures")
    if not 0 < args.duration <= 3600:
        raise CliError(f"--duration must be in (0, 3600] seconds; got {args.duration}")
    _require(args.network, "--network package")
    if bool(args.mixtures) == bool(args.corpus):
        raise CliError("give either --mixtures CSV [CSV ...] or --corpus NAME")
    for csv in args.mixtures or []:
        _require(csv, "mixture CSV")
    csvs = args.mixtures or _simulate(args)
    try:
        index = generate_retraining_data(
            args.network,
            csvs,
            args.out,
            n_iter=args.n_iter,
            store_clean=args.oracle,
            jobs=args.jobs,
            seed=args.seed,
            max_mixtures=args.max_mixtures,
        )
    except ValueError as err:
        raise CliError(str(err))
    print(f"re-training data index: {index}")
    return 0


def run_train(args):
    from ..retraining import RetrainConfig, retrain

    _require(args.network, "--network package")
    _require(Path(args.data) / "index.json", "re-training data index")
    config = RetrainConfig(
        lr=args.lr,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        segment_frames=args.segment_frames or None,
        val_fraction=args.val_fraction,
        val_every_n_steps=args.val_every,
        patience=args.patience,
        dropout=args.dropout,
        early_iterations=args.early_iterations,
        early_weight=args.early_weight,
        iterations=args.iterations,
        oracle=args.oracle,
        seed=args.seed,
        accelerator=args.accelerator,
    )
    try:
        model = retrain(args.network, args.data, args.out, config)
    except ValueError as err:
        raise CliError(str(err))
    print(f"re-trained FastMVAE2: {model}")
    return 0


def run_compare(args):
    from ..retraining import compare
    from ..retraining.compare import METHODS

    _check_sizes(args, "n_iter", "max_mixtures")
    _require(args.network, "--network package")
    _require(args.retrained, "--retrained model")
    for csv in args.test_csv:
        _require(csv, "test CSV")
    try:
        claims = compare(
            args.network,
            args.retrained,
            args.test_csv,
            args.out,
            n_iter=args.n_iter,
            methods=args.methods or METHODS,
            metrics=args.metrics,
            max_mixtures=args.max_mixtures,
        )
    except ValueError as err:
        raise CliError(str(err))
    print(Path(claims).read_text())
    return 0
