"""Real-speech model zoo on VCC2018 (speaker-closed) and the table of every separator.

Protocol: all 12 VCC2018 speakers; sentences 30001-30020 train the networks and
make the re-training mixtures, sentences 30021-30025 make the test mixtures. Paper STFT
(Hamming 2048 / hop 1024), RT60 0.3 s (and an easier 0.15 s test room), 10-s signals.

Stages (each resumable; a rerun skips finished work, trainings resume from checkpoints):

1. ``speakers``: reverberant single-speaker training signals of the training sentences.
2. ``cvae``, ``acvae``: the CVAE (MVAE, and the ChimeraACVAE's teacher) and the ACVAE
   (FastMVAE); BatchNorm statistics recalibrated at the end of training.
3. ``chimera``: ChimeraACVAE (FastMVAE2) distilled from the CVAE; ``chimera_interf``: the
   same with interference-augmented encoder inputs (``--interference-prob``, ``--interference-sir``;
   ours, not the papers': see :mod:`asteroid_mvae.training.augment`), row ``fastmvae2_interf``.
4. ``retrain``: FastMVAE2's iterates on training-sentence mixtures, encoder re-training.
5. ``evaluate``: test mixtures per N and room; every method; ``table.md`` (paired
   differences against ILRMA, fraction of the ILRMA -> oracle-IP gap closed).
6. ``report``: into ``--results`` (committed): the table, each network's training and
   validation NLL curve (CSV and PNG) and training configuration.

Speaker-open zoo: ``--train-corpus ../shared/data/librispeech_tc100_1utt`` trains the networks
(and makes the re-training mixtures) from every utterance of that corpus (251 LibriSpeech
speakers); the test mixtures stay VCC2018 sentences 30021-30025, whose speakers the networks
never heard::

    python egs/vcc2018/local/zoo_vcc2018.py --out exp/zoo_open --train-corpus ../shared/data/librispeech_tc100_1utt \
        --per-speaker 2 --results egs/vcc2018/results/zoo_open

Run one stage (or a range) with ``--stages``; ``--threads`` sets torch's threads (run two
trainings side by side with ``--threads 1`` each). Example::

    python egs/vcc2018/local/zoo_vcc2018.py --out exp/zoo --stages speakers cvae
"""

import argparse
import copy
import json
import logging
import sys
import time
from pathlib import Path

STAGES = ("speakers", "cvae", "acvae", "chimera", "chimera_interf", "retrain", "evaluate", "report")
TRAIN_SENTENCES = range(30001, 30021)
TEST_SENTENCES = range(30021, 30026)
log = logging.getLogger("zoo")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/data/vcc2018")
    parser.add_argument(
        "--train-corpus",
        default=None,
        help="speaker-open zoo: train on every utterance of this folder corpus instead of "
        "the test corpus's training sentences",
    )
    parser.add_argument(
        "--open-test-speakers",
        nargs="+",
        default=None,
        help="with --train-corpus: only these test-corpus speakers make the test mixtures; the "
        "others join the training corpus with their training sentences (speaker-disjoint)",
    )
    parser.add_argument("--out", default="exp/zoo_vcc2018")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-fft", type=int, default=2048)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--per-speaker", type=int, default=16, help="10-s training signals per speaker")
    parser.add_argument("--cvae-steps", type=int, default=1200)
    parser.add_argument("--acvae-steps", type=int, default=600)
    parser.add_argument("--chimera-steps", type=int, default=600)
    parser.add_argument("--segment-frames", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--early-stop-patience",
        type=int,
        default=None,
        help="stop a training after this many validations without a lower validation NLL",
    )
    parser.add_argument(
        "--lr", type=float, default=3e-4, help="CVAE/ACVAE learning rate (1e-3 diverged: NLL spikes to 1e16)"
    )
    parser.add_argument("--chimera-lr", type=float, default=3e-4)
    parser.add_argument(
        "--chimera-dir",
        default="chimera",
        help="folder of <out> the chimera stage trains in and FastMVAE2 takes its package from (e.g. "
        "chimera_lr1e-4: another rate beside the authors')",
    )
    parser.add_argument(
        "--interference-prob",
        type=float,
        default=0.5,
        help="chimera_interf: fraction of training items whose encoder input gets another speaker",
    )
    parser.add_argument(
        "--interference-sir",
        type=float,
        nargs=2,
        default=[5.0, 25.0],
        help="chimera_interf: range of the signal-to-interference ratio (dB)",
    )
    parser.add_argument("--retrain-mixtures", type=int, default=12, help="training-sentence mixtures per N")
    parser.add_argument("--retrain-steps", type=int, default=300)
    parser.add_argument("--retrain-lr", type=float, default=1e-4)
    parser.add_argument("--test-mixtures", type=int, default=24, help="test mixtures per N and room")
    parser.add_argument("--mvae-mixtures", type=int, default=8, help="MVAE runs on the first K test mixtures")
    parser.add_argument(
        "--mvae-steps",
        type=int,
        nargs="+",
        default=[30],
        help="MVAE Adam steps per iteration: the first gives 'mvae', each other K 'mvae_stepsK'",
    )
    parser.add_argument("--mvae-lr", type=float, default=0.01, help="MVAE's Adam learning rate")
    parser.add_argument("--mvae-rt60", type=float, nargs="+", default=[0.3], help="rooms where MVAE runs")
    parser.add_argument(
        "--mvae-last",
        type=int,
        nargs="*",
        default=[],
        help="also 'mvae_lastK' per K: ILRMA for n_iter - K iterations, then K MVAE iterations (first --mvae-steps)",
    )
    parser.add_argument("--cvae-package", default=None, help="MVAE's CVAE package (default: <out>/cvae/network.pt)")
    parser.add_argument(
        "--fallback",
        action="store_true",
        help="also '<name>_fb' per MVAE method: fallback='envelope' (the ILRMA start kept where its outputs' "
        "envelopes are less correlated)",
    )
    parser.add_argument("--mvae-tag", default="", help="suffix of every MVAE method name (e.g. _s4000, a checkpoint)")
    parser.add_argument(
        "--chimera-package", default=None, help="FastMVAE2's package (default: <out>/chimera/network.pt)"
    )
    parser.add_argument("--chimera-tag", default="", help="suffix of every FastMVAE2 method name of that package")
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--rt60", type=float, nargs="+", default=[0.3, 0.15], help="test rooms")
    parser.add_argument(
        "--methods", nargs="+", default=None, help="default: every method whose network exists (see separators())"
    )
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument(
        "--mwf",
        action="store_true",
        help="also '<method>_mwf' per separator: followed by the multichannel Wiener post-filter (postfilter='mwf')",
    )
    parser.add_argument(
        "--eval-part",
        choices=("test", "train"),
        default="test",
        help="evaluate: 'train' runs on the first --test-mixtures training-sentence mixtures (choosing a setting; "
        "folders eval/rt*_n*_train, left out of the report)",
    )
    parser.add_argument(
        "--variance-steps",
        type=float,
        nargs="*",
        default=[0.5, 0.25],
        help="FastMVAE2 rows with damped variance updates (variance_step)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default="egs/vcc2018/results/zoo_vcc2018", help="report stage output")
    return parser.parse_args(argv)


def stft_config(args):
    from asteroid_mvae.separation import StftConfig

    return StftConfig(args.n_fft, args.n_fft // 2)


def sentence_split(args):
    """(train, test) corpora: sentences 30001-30020 / 30021-30025 of all speakers.

    With ``--train-corpus`` the training corpus is that whole folder corpus (speaker-open); with
    ``--open-test-speakers`` too, only those speakers' test sentences make the test mixtures and
    the other speakers' training sentences join the training corpus (speaker-disjoint).
    """
    from asteroid_mvae.data import CorpusUnion, DataError, FolderCorpus

    corpus = FolderCorpus(args.corpus)
    pick = lambda numbers: {spk: [u for u in corpus.utterances(spk) if int(u) in numbers] for spk in corpus.speakers}
    if args.open_test_speakers and not args.train_corpus:
        raise DataError("--open-test-speakers needs --train-corpus (a speaker-open zoo)")
    test_speakers = args.open_test_speakers or corpus.speakers
    test = corpus.subset(speakers=test_speakers, utterances=pick(TEST_SENTENCES))
    if args.train_corpus:
        train = FolderCorpus(args.train_corpus)
        others = sorted(set(corpus.speakers) - set(test_speakers))
        if others:
            train = CorpusUnion([train, corpus.subset(speakers=others, utterances=pick(TRAIN_SENTENCES))])
        return train, test
    return corpus.subset(utterances=pick(TRAIN_SENTENCES)), test


def room(args, rt60=0.3):
    """The zoo's room; ``rt60`` a value or a ``(low, high)`` range drawn per mixture."""
    from asteroid_mvae.data import RoomConfig

    return RoomConfig(duration=args.seconds, rt60=rt60)  # a list becomes a tuple there


def room_tag(rt60) -> str:
    """Milliseconds: ``300`` for 0.3 s, ``200-400`` for the range (0.2, 0.4)."""
    values = rt60 if isinstance(rt60, (list, tuple)) else [rt60]
    return "-".join(str(int(round(v * 1000))) for v in values)


def stage_speakers(args, out):
    from asteroid_mvae.data import simulate_speakers

    train, _ = sentence_split(args)
    return simulate_speakers(
        train, out / "speakers", args.per_speaker, seed=args.seed, jobs=args.threads, config=room(args)
    )


def training_config(args, steps, lr):
    """Overrides of the ``cpu_long`` training preset (the recipes' preset of this zoo)."""
    return {
        "network": {"n_freq": args.n_fft // 2},
        "seed": args.seed,
        "optim": {"lr": lr, "batch_size": args.batch_size},
        "data": {"dataset_args": {"segment_frames": args.segment_frames, "segments_per_utterance": 4, "cache": True}},
        "trainer": {"max_steps": steps, "early_stop_patience": args.early_stop_patience},
    }


def _dataset(args, out):
    from asteroid_mvae.data import SpeakerSpectrogramDataset

    conf = training_config(args, 0, 0)["data"]["dataset_args"]
    return SpeakerSpectrogramDataset(out / "speakers", stft=stft_config(args), seed=args.seed, **conf)


def _train(args, out, model, steps, lr, teacher=None, name=None, **overrides):
    from asteroid_mvae.training import make_config, train

    name = name or model
    package = out / name / "network.pt"
    if package.exists():
        return package
    config = training_config(args, steps, lr)
    config["data"]["root"] = str(out / "speakers")
    config.update(exp_dir=str(out / name), teacher=None if teacher is None else str(teacher), **overrides)
    return train(make_config(model, "cpu_long", config), _dataset(args, out))


def stage_cvae(args, out):
    return _train(args, out, "cvae", args.cvae_steps, args.lr)


def stage_acvae(args, out):
    return _train(args, out, "acvae", args.acvae_steps, args.lr)


def stage_chimera(args, out):
    return _train(
        args,
        out,
        "chimera",
        args.chimera_steps,
        args.chimera_lr,
        teacher=out / "cvae" / "network.pt",
        name=args.chimera_dir,
    )


def stage_chimera_interf(args, out):
    interference = {"prob": args.interference_prob, "sir_db": list(args.interference_sir)}
    return _train(
        args,
        out,
        "chimera",
        args.chimera_steps,
        args.chimera_lr,
        teacher=out / "cvae" / "network.pt",
        name="chimera_interf",
        augment={"interference": interference},
    )


def mixtures(args, out, part, n_src, n_mixtures, rt60=0.3):
    from asteroid_mvae.data import simulate_mixtures

    train, test = sentence_split(args)
    corpus = train if part == "train" else test
    name = f"mix_{part}_{n_src}src" + ("" if rt60 == 0.3 else f"_rt{room_tag(rt60)}")
    return simulate_mixtures(
        corpus,
        out / name,
        n_src,
        n_mixtures,
        seed=args.seed + (0 if part == "train" else 1000),
        jobs=args.threads,
        config=room(args, rt60),
    )


def retrain_encoder(args, out, csvs, data_dir, model_dir, steps, lr, max_mixtures=None, network=None, jobs=1, **config):
    """The zoo's re-training: FastMVAE2's 30 iterates on ``csvs`` (at most ``max_mixtures`` per CSV)
    into ``data_dir``, then the ChimeraACVAE's encoder re-trained on them into ``model_dir``.

    ``network``: the ChimeraACVAE package (default the zoo's); ``config``: ``RetrainConfig``
    fields that replace the zoo's (batches of 16, validation every 50 steps, patience 5)."""
    from asteroid_mvae.retraining import RetrainConfig, generate_retraining_data, retrain

    network = Path(network) if network else out / "chimera" / "network.pt"
    generate_retraining_data(
        network,
        csvs,
        data_dir,
        n_iter=30,
        stft_config=stft_config(args),
        jobs=jobs,
        seed=args.seed,
        max_mixtures=max_mixtures,
    )
    settings = dict(batch_size=16, val_fraction=0.1, patience=5, val_every_n_steps=50)
    config = RetrainConfig(lr=lr, max_steps=steps, seed=args.seed, **{**settings, **config})
    return retrain(network, data_dir, model_dir, config)


def stage_retrain(args, out):
    target = out / "retrained" / "model.pth"
    if target.exists():
        return target
    csvs = [mixtures(args, out, "train", n, args.retrain_mixtures) for n in args.n_src]
    return retrain_encoder(
        args, out, csvs, out / "retrain_data", out / "retrained", args.retrain_steps, args.retrain_lr
    )


def separators(args, out, n_src):
    """{method: separator} for one N (what exists of the zoo)."""
    from asteroid_mvae.models import MVAE, FastMVAE, FastMVAE2, load_model

    common = dict(n_src=n_src, n_iter=args.n_iter, n_fft=args.n_fft, hop_length=args.n_fft // 2)
    seps = {
        "ilrma": load_model("ilrma", **common),
        "auxiva": load_model("auxiva", **common),
        "oracle_ip": "oracle_ip",
        "oracle_ls": "oracle_ls",
        "ibm": "ibm",
        "irm": "irm",
    }  # names: built with the evaluation's STFT
    packages = {name: out / name / "network.pt" for name in ("cvae", "acvae", "chimera", "chimera_interf")}
    packages["chimera"] = out / args.chimera_dir / "network.pt"
    if args.chimera_package:
        packages["chimera"] = Path(args.chimera_package)
    if packages["chimera"].exists():
        tag = args.chimera_tag
        seps[f"fastmvae2{tag}"] = FastMVAE2.from_network_package(packages["chimera"], **common)
        half = args.n_iter // 2  # the MVAE paper's start: ILRMA for half the iterations
        seps[f"fastmvae2_ilrma_start{tag}"] = FastMVAE2.from_network_package(
            packages["chimera"], **{**common, "n_iter": args.n_iter - half}, init_ilrma=half
        )
        seps["fastmvae2_monotone"] = FastMVAE2.from_network_package(packages["chimera"], **common, monotone=True)
        for step in args.variance_steps:  # damped updates (not the paper's): fastmvae2_step50 for a = 0.5
            seps[f"fastmvae2_step{round(100 * step)}"] = FastMVAE2.from_network_package(
                packages["chimera"], **common, variance_step=step
            )
    if packages["chimera_interf"].exists():
        seps["fastmvae2_interf"] = FastMVAE2.from_network_package(packages["chimera_interf"], **common)
    if (out / "retrained" / "model.pth").exists():
        seps["fastmvae2_retrained"] = load_model(str(out / "retrained" / "model.pth"), n_src=n_src, n_iter=args.n_iter)
        seps["fastmvae2_retrained_monotone"] = load_model(
            str(out / "retrained" / "model.pth"), n_src=n_src, n_iter=args.n_iter, monotone=True
        )
        for step in args.variance_steps:
            seps[f"fastmvae2_retrained_step{round(100 * step)}"] = load_model(
                str(out / "retrained" / "model.pth"), n_src=n_src, n_iter=args.n_iter, variance_step=step
            )
    if packages["acvae"].exists():
        seps["fastmvae"] = FastMVAE.from_network_package(packages["acvae"], **common)
    cvae = Path(args.cvae_package) if args.cvae_package else packages["cvae"]
    if cvae.exists():
        half = args.n_iter // 2  # the MVAE paper's protocol: ILRMA for half the iterations, then MVAE
        for position, steps in enumerate(args.mvae_steps):
            seps[("mvae" if position == 0 else f"mvae_steps{steps}") + args.mvae_tag] = MVAE.from_network_package(
                cvae, **{**common, "n_iter": args.n_iter - half}, init_ilrma=half, n_steps=steps, lr=args.mvae_lr
            )
        for last in args.mvae_last:  # a short MVAE at the end of ILRMA: the deep source model as a refinement
            seps[f"mvae_last{last}{args.mvae_tag}"] = MVAE.from_network_package(
                cvae,
                **{**common, "n_iter": last},
                init_ilrma=args.n_iter - last,
                n_steps=args.mvae_steps[0],
                lr=args.mvae_lr,
            )
    if args.fallback:  # the MVAE separators keeping their ILRMA start where the envelopes say so
        for name in [k for k, sep in seps.items() if isinstance(sep, MVAE)]:
            seps[f"{name}_fb"] = copy.deepcopy(seps[name])
            seps[f"{name}_fb"].fallback = "envelope"
    if args.mwf:  # the same separators, each followed by the Wiener post-filter on every microphone
        from asteroid_mvae.models.base import with_postfilter

        seps.update(
            {
                f"{name}_mwf": with_postfilter(copy.deepcopy(sep), "mwf")
                for name, sep in seps.items()
                if not isinstance(sep, str)
            }
        )
    if args.methods:
        seps = {k: v for k, v in seps.items() if k in args.methods}
    return seps


def stage_evaluate(args, out):
    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.data.datasets import MixtureSubset
    from asteroid_mvae.evaluation import evaluate

    tables = []
    for rt60 in args.rt60:
        for n_src in args.n_src:
            csv = mixtures(args, out, args.eval_part, n_src, args.test_mixtures, rt60)
            dataset = MixtureDataset(csv)
            dataset = MixtureSubset(dataset, list(range(min(args.test_mixtures, len(dataset)))))
            part = "" if args.eval_part == "test" else "_train"
            folder = out / "eval" / f"rt{int(round(rt60 * 1000))}_n{n_src}{part}"
            seps = separators(args, out, n_src)
            slow = {k: v for k, v in seps.items() if k.startswith("mvae") and rt60 in args.mvae_rt60}
            fast = {k: v for k, v in seps.items() if not k.startswith("mvae")}
            evaluate(
                fast,
                dataset,
                folder,
                metrics_list=["si_sdr", "sdr", "sir", "sar"],
                n_examples=0,
                stft_config=stft_config(args),
                progress=sys.stderr.isatty(),
                separator_options={"n_iter": args.n_iter},
            )
            if slow:
                subset = MixtureSubset(dataset, list(range(min(args.mvae_mixtures, len(dataset)))))
                evaluate(
                    slow,
                    subset,
                    folder,
                    metrics_list=["si_sdr", "sdr", "sir", "sar"],
                    n_examples=0,
                    stft_config=stft_config(args),
                    progress=sys.stderr.isatty(),
                    separator_options={"n_iter": args.n_iter},
                )
            tables.append(zoo_table(folder / "all_metrics.csv", rt60, n_src))
    text = "\n\n".join(tables) + "\n"
    (out / "table.md").write_text(text)
    print(text)
    return out / "table.md"


def zoo_table(csv_path, rt60, n_src) -> str:
    """Markdown: per method mean SI-SDRi, paired difference against ILRMA (s.e., wins), gap closed."""
    from asteroid_mvae.evaluation.report import paired_table

    return f"RT60 {rt60} s, N = {n_src}:\n\n" + paired_table(csv_path, baseline="ilrma", ceiling="oracle_ip")


def nll_curves(exp_dir: Path):
    """``(step, train_nll_epoch, val_nll)`` rows of a training's CSV logs (resumed runs joined)."""
    import pandas as pd

    logs = [pd.read_csv(f) for f in sorted(exp_dir.glob("logs/version_*/metrics.csv"))]
    if not logs:
        return None
    df = pd.concat(logs, ignore_index=True)
    train = df.dropna(subset=["train_nll_epoch"]).groupby("step")["train_nll_epoch"].last()
    val = df.dropna(subset=["val_nll"]).groupby("step")["val_nll"].last() if "val_nll" in df else pd.Series(dtype=float)
    return pd.concat({"train_nll": train, "val_nll": val}, axis=1).sort_index().rename_axis("step")


def stage_report(args, out):
    import shutil

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    networks = ("cvae", "acvae", "chimera", "chimera_interf")
    trained = {name: nll_curves(out / name) for name in networks}
    trained = {name: curves for name, curves in trained.items() if curves is not None}
    for name, curves in trained.items():
        color = networks.index(name)
        curves.to_csv(results / f"curve_{name}.csv", float_format="%.4f")
        shutil.copy(out / name / "config.yml", results / f"config_{name}.yml")
        val = curves["val_nll"].dropna()
        ax.plot(val.index, val.values, marker="o", color=f"C{color}", label=f"{name} validation (eval mode)")
        train = curves["train_nll"].dropna()
        ax.plot(train.index, train.values, alpha=0.5, color=f"C{color}", label=f"{name} training")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("NLL per time-frequency bin (nats)")
    ax.set_ylim(-6, 2)
    trained_on = Path(args.train_corpus).name if args.train_corpus else "VCC2018"
    ax.set_title(f"networks trained on {trained_on} (NLL above 2 clipped)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if trained:  # an evaluation-only folder (networks given as packages) has no curves
        fig.savefig(results / "training_curves.png", dpi=120)
    plt.close(fig)
    tables, folders = [], []
    tested = [f for f in (out / "eval").glob("rt*_n*") if not f.name.endswith("_train")]  # not the choices
    for folder in sorted(tested, key=lambda f: (-int(f.name[2:].split("_")[0]), f.name)):
        rt60, n_src = int(folder.name[2:].split("_")[0]) / 1000, int(folder.name.split("_n")[1])
        if (folder / "all_metrics.csv").exists():
            tables.append(zoo_table(folder / "all_metrics.csv", rt60, n_src))
            folders.append((folder / "all_metrics.csv", rt60, n_src))
    if tables:  # from every evaluation so far (a rerun of evaluate adds the missing rows)
        (results / "table.md").write_text("\n\n".join(tables) + "\n")
        frontier(folders, results / "frontier.png", args.threads)
    return results


def frontier(folders, path, threads) -> None:
    """``path``: paired SI-SDRi minus ILRMA (mean ± standard error) against seconds per mixture, one
    panel per evaluation folder ``(all_metrics.csv, rt60, n_src)``; oracles left out (no cost to pay)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from asteroid_mvae.evaluation.report import paired_differences

    frames = {csv: pd.read_csv(csv) for csv, _, _ in folders}
    methods = sorted({m for df in frames.values() for m in df["method"].unique()})
    methods = [m for m in methods if not m.startswith(("oracle", "ibm", "irm"))]
    colors, markers = plt.get_cmap("tab20"), "osD^v<>ph*"
    style = {m: (colors(i % 20), markers[i % len(markers)]) for i, m in enumerate(methods)}  # same in every panel
    fig, axes = plt.subplots(1, len(folders), figsize=(5.5 * len(folders), 4.2), squeeze=False)
    handles = {}
    for ax, (csv, rt60, n_src) in zip(axes[0], folders):
        df = frames[csv]
        for method, rows in df.groupby("method"):
            d = paired_differences(df, method, "ilrma")
            if method not in style or not d:
                continue
            seconds, err = rows["processing_s"].mean(), 0.0 if d["n"] < 2 else d["se"]
            color, marker = style[method]
            handles[method] = ax.errorbar(
                seconds, d["mean"], yerr=err, fmt=marker, color=color, capsize=3, label=f"{method} ({d['n']})"
            )
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xscale("log")
        ax.set_xlabel(f"seconds per 10-s mixture ({threads} torch thread(s))")
        ax.set_ylabel("SI-SDRi minus ILRMA, paired (dB)")
        ax.set_title(f"RT60 {rt60} s, N = {n_src} (± standard error; mixtures in brackets)", fontsize=9)
    names = [m for m in methods if m in handles]
    ncol, rows = 4, -(-len(names) // 4)
    labels = [handles[m].get_label() for m in names]  # "method (mixtures)"
    fig.legend([handles[m] for m in names], labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    fig.set_figheight(4.2 + 0.18 * rows)
    fig.tight_layout(rect=(0, 0.05 * rows + 0.01, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    for option in ("cvae_package", "chimera_package"):  # named packages must exist: nothing silently skipped
        path = getattr(args, option)
        if path and not Path(path).is_file():
            print(f"zoo_vcc2018.py: error: {path} is missing (--{option.replace('_', '-')})", file=sys.stderr)
            raise SystemExit(2)
    if Path(args.chimera_dir).name != args.chimera_dir or args.chimera_dir in ("", ".", ".."):
        print(f"zoo_vcc2018.py: error: --chimera-dir must be a folder name; got {args.chimera_dir!r}", file=sys.stderr)
        raise SystemExit(2)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"args_{'_'.join(args.stages)}.json").write_text(json.dumps(vars(args), indent=1))
    for stage in STAGES:
        if stage not in args.stages:
            continue
        start = time.time()
        result = globals()[f"stage_{stage}"](args, out)
        log.info("[%s] %s (%.1f s)", stage, result, time.time() - start)


if __name__ == "__main__":
    main()
