"""``asteroid-mvae simulate`` (multi-speaker mixtures) and ``simulate-speakers`` (labelled single speakers)."""

from . import CliError

CORPUS_CHOICES = ("wsj0", "jvs", "folder", "builtin")


def _add_common(parser):
    group = parser.add_argument_group("corpus")
    group.add_argument("--corpus", choices=CORPUS_CHOICES, default="builtin", help="speech corpus (default: builtin)")
    group.add_argument("--corpus-dir", help="corpus root folder (not for builtin)")
    group.add_argument(
        "--subsets",
        nargs="+",
        help="wsj0: subsets such as si_tr_s si_dt_05 si_et_05 (default si_tr_s); jvs: parallel100 nonpara30",
    )
    group.add_argument("--builtin-speakers", type=int, default=4, help="builtin: number of synthetic speakers")
    group.add_argument("--builtin-utterances", type=int, default=20, help="builtin: utterances per speaker")
    group.add_argument(
        "--speaker-split",
        choices=("all", "train", "test"),
        default="all",
        help="use all speakers or one side of a seeded speaker-open split",
    )
    group.add_argument("--test-fraction", type=float, default=0.2, help="speaker fraction of the test side")
    group.add_argument("--split-seed", type=int, default=0)

    room = parser.add_argument_group("room (defaults: the MVAE papers' protocol)")
    room.add_argument("--room", nargs=3, type=float, default=[8.0, 6.0, 3.0], metavar=("L", "W", "H"))
    room.add_argument("--rt60", nargs="+", type=float, default=[0.3], help="seconds, or LOW HIGH drawn per item")
    room.add_argument("--n-mics", type=int, help="microphones (default: one per source)")
    room.add_argument("--mic-radius", type=float, default=0.1)
    room.add_argument("--source-distance", type=float, default=2.5)
    room.add_argument("--array-center", nargs=2, type=float, metavar=("X", "Y"), help="default: room centre")
    room.add_argument("--array-height", type=float, default=1.5)
    room.add_argument("--source-height", type=float, help="default: array height")
    room.add_argument("--min-separation", type=float, default=20.0, help="minimum source azimuth difference, degrees")
    room.add_argument("--min-wall-distance", type=float, default=0.5)
    room.add_argument("--duration", type=float, default=10.0, help="seconds per signal")
    room.add_argument("--snr", type=float, help="add diffuse noise at this SNR (dB)")
    room.add_argument("--max-order", type=int, help="image source order (default: from inverse Sabine)")
    room.add_argument(
        "--early-ms",
        type=float,
        default=50.0,
        help="mixtures: the direct-path references keep each impulse response up to this many ms "
        "after its peak (direct path plus early reflections; default 50)",
    )

    run = parser.add_argument_group("run")
    run.add_argument("--out", required=True, help="output folder (rerun to resume)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--jobs", type=int, default=1, help="parallel worker processes")
    run.add_argument(
        "--strict", action="store_true", help="fail on an unreadable or too short file instead of skipping it"
    )


def add_parser(subparsers):
    mix = subparsers.add_parser("simulate", help="simulate reverberant multi-speaker mixtures (metadata CSV + wavs)")
    mix.add_argument("--n-src", type=int, default=2, help="sources per mixture")
    mix.add_argument("--n-mixtures", type=int, default=100)
    _add_common(mix)
    mix.set_defaults(func=run_mixtures)

    spk = subparsers.add_parser(
        "simulate-speakers",
        help="simulate reverberant single-speaker signals with speaker labels (source-model training)",
    )
    spk.add_argument("--n-per-speaker", type=int, default=10, help="signals per speaker")
    _add_common(spk)
    spk.set_defaults(func=run_speakers)


def _build(args):
    from ..data import DataError, RoomConfig, get_corpus, split_by_speaker

    kwargs = {}
    if args.corpus == "builtin":
        kwargs = {"n_speakers": args.builtin_speakers, "utterances_per_speaker": args.builtin_utterances}
    elif args.subsets and args.corpus in ("wsj0", "jvs"):
        kwargs = {"subsets": tuple(args.subsets)}
    if len(args.rt60) not in (1, 2):
        raise CliError(f"--rt60 takes one value or LOW HIGH; got {args.rt60}")
    try:
        corpus = get_corpus(args.corpus, args.corpus_dir, **kwargs)
        if args.speaker_split != "all":
            train, test = split_by_speaker(corpus, args.test_fraction, seed=args.split_seed)
            corpus = train if args.speaker_split == "train" else test
        config = RoomConfig(
            room_dim=tuple(args.room),
            rt60=args.rt60[0] if len(args.rt60) == 1 else tuple(args.rt60),
            n_mics=args.n_mics,
            mic_radius=args.mic_radius,
            source_distance=args.source_distance,
            array_center=tuple(args.array_center) if args.array_center else None,
            array_height=args.array_height,
            source_height=args.source_height,
            min_separation_deg=args.min_separation,
            min_wall_distance=args.min_wall_distance,
            duration=args.duration,
            noise_snr_db=args.snr,
            max_order=args.max_order,
            early_ms=args.early_ms,
        )
    except DataError as err:
        raise CliError(str(err)) from None
    return corpus, config


def _run(fn, *args, **kwargs):
    from ..data import DataError

    try:
        path = fn(*args, **kwargs)
    except DataError as err:
        raise CliError(str(err)) from None
    print(f"wrote {path}")


def run_mixtures(args):
    from ..data import simulate_mixtures

    corpus, config = _build(args)
    _run(
        simulate_mixtures,
        corpus,
        args.out,
        n_src=args.n_src,
        n_mixtures=args.n_mixtures,
        seed=args.seed,
        jobs=args.jobs,
        config=config,
        strict=args.strict,
    )


def run_speakers(args):
    from ..data import simulate_speakers

    corpus, config = _build(args)
    _run(
        simulate_speakers,
        corpus,
        args.out,
        n_per_speaker=args.n_per_speaker,
        seed=args.seed,
        jobs=args.jobs,
        config=config,
        strict=args.strict,
    )
