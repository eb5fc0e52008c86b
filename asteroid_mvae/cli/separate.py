"""``asteroid-mvae separate``: multichannel audio files in, one wav per estimated source out.

Inputs are files, folders (their audio files, recursively) and globs; every channel is read,
resampled with ``-r`` and separated whole or in overlapping chunks of all channels (``-w``), at
the reference microphone's scale (asteroid-infer keeps one channel and rescales). Outputs:
``<stem>_s<k>.wav`` in ``--out-dir`` (``<parent>_<stem>_s<k>.wav`` where two inputs would share
a name), written all together or not at all; an output never replaces an input, and every input
is checked before the first output is written. ``infer`` is a deprecated alias taking
asteroid-infer's arguments (outputs beside each file by default, existing outputs kept).
"""

import glob
import logging
import re
from argparse import Namespace
from pathlib import Path
from typing import Optional

from . import CliError, first_line

log = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".wav", ".flac")


def add_chunk_arguments(parser):
    """The options ``separate`` shares with the deprecated ``infer``."""
    parser.add_argument(
        "-r",
        "--resample",
        action="store_true",
        help="resample files at another sample rate (all channels), and the outputs back",
    )
    parser.add_argument("-w", "--ola-window", type=int, help="separate in overlapping chunks of this many samples")
    parser.add_argument("--ola-hop", type=int, help="chunk hop in samples (default: window // 2)")
    parser.add_argument("--ola-window-type", default="hann", help="chunk window (scipy name; default hann)")
    parser.add_argument("--ola-no-reorder", action="store_true", help="do not align the sources of successive chunks")
    parser.add_argument("-d", "--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default cpu)")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "separate",
        help="separate multichannel audio files (files, folders, globs)",
        description="Separate multichannel recordings; writes <out-dir>/<stem>_s<k>.wav for each source.",
    )
    parser.add_argument("files", nargs="+", help="multichannel audio files (wav/flac) [time, mics], folders or globs")
    parser.add_argument(
        "--model",
        default="ilrma",
        help="a model name (auxiva, ilrma, ...), a saved model (model.pth, publish folder, network.pt) or a hub id",
    )
    parser.add_argument("-o", "--out-dir", default="separated", help="output folder (default: separated)")
    parser.add_argument("--n-src", type=int, default=None, help="number of sources (default: the model's)")
    parser.add_argument("--n-iter", type=int, default=None, help="iterations (default: the model's)")
    parser.add_argument(
        "--refine-steps",
        type=int,
        default=None,
        help="FastMVAE/FastMVAE2: Adam steps refining the encoder's answer at every iteration "
        "(semi-amortized inference; default: the model's)",
    )
    parser.add_argument(
        "--init-ilrma",
        type=int,
        default=None,
        help="deep separators: ILRMA iterations before the --n-iter iterations of the deep source model "
        "(e.g. --init-ilrma 50 --n-iter 10: MVAE's last 10 iterations only; default: the model's)",
    )
    parser.add_argument(
        "--fallback",
        choices=("none", "envelope"),
        default=None,
        help="deep separators: 'envelope' keeps the ILRMA start's outputs where their envelopes are less "
        "correlated than the deep iterations' (a guard against outputs that merge talkers; default: the model's)",
    )
    parser.add_argument(
        "--n-steps", type=int, default=None, help="MVAE: Adam steps on the latent per iteration (default: the model's)"
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="MVAE: Adam learning rate of those steps (e.g. --init-ilrma 50 --n-iter 10 --n-steps 5 --lr 0.02; "
        "default: the model's)",
    )
    parser.add_argument(
        "--postfilter",
        choices=("auto", "none", "mwf"),
        default=None,
        help="IVA-family separators: 'mwf' re-estimates each source by the multichannel Wiener filter "
        "its separated output implies (also with as many microphones as sources), 'none' never, 'auto' "
        "with more microphones than sources (default: the model's)",
    )
    add_chunk_arguments(parser)
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="on a file that fails, go on with the others; report the failures at the end (exit 2)",
    )
    parser.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="replace outputs of an earlier run (default: refuse, before any work, if one exists)",
    )
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="keep the outputs of an earlier run and skip their inputs (resume a folder)",
    )
    parser.set_defaults(func=run)

    infer = subparsers.add_parser(
        "infer",
        help="deprecated alias of separate, with asteroid-infer's arguments",
        description="Deprecated: use `asteroid-mvae separate FILES --model MODEL`. The same code as separate, with "
        "asteroid-infer's arguments: outputs <stem>_s<k>.wav beside each file (or in -o), existing "
        "outputs kept unless -f.",
    )
    infer.add_argument("url_or_path", help="saved model (model.pth, publish folder, network.pt) or hub id")
    infer.add_argument("--files", nargs="+", required=True, help="audio files, folders or globs")
    infer.add_argument("-f", "--force-overwrite", action="store_true", help="overwrite existing outputs")
    infer.add_argument("-o", "--output-dir", help="output folder (default: beside each file)")
    add_chunk_arguments(infer)
    infer.set_defaults(func=run_infer)


def run_infer(args):
    """``infer``: :func:`run` with asteroid-infer's defaults."""
    return run(
        Namespace(
            **{
                **vars(args),
                "files": args.files,
                "model": args.url_or_path,
                "out_dir": args.output_dir,
                "n_src": None,
                "n_iter": None,
                "refine_steps": None,
                "init_ilrma": None,
                "fallback": None,
                "n_steps": None,
                "lr": None,
                "postfilter": None,
                "keep_going": False,
                "force": args.force_overwrite,
                "skip_existing": True,
            }
        )
    )


def expand_files(specs) -> list:
    """Files from paths, folders (their audio files, recursively) and globs, in order, once each;
    in a folder or glob, files named like another one's outputs (:func:`is_output_of`) are left out."""
    files = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not found:
            raise CliError(f"no such file, folder with audio, or matching glob: {spec}")
        if not path.is_file():  # a folder or glob: an earlier run's outputs beside their inputs are not inputs
            found = [p for p in found if not is_output_of(p, found)]
        files += [p for p in found if p not in files]
    return files


def is_output_of(path: Path, others) -> bool:
    """Whether ``path`` is named like the output ``<stem>_s<k>.wav`` of another file among
    ``others`` in its folder."""
    match = re.fullmatch(r"(.+)_s\d+", path.stem)
    return (
        bool(match)
        and path.suffix.lower() == ".wav"
        and any(o.parent == path.parent and o.stem == match.group(1) and o != path for o in others)
    )


def check_device(name: str):
    """The ``torch.device`` named ``name``; :class:`CliError` if it is malformed or absent."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise CliError(f"--device {name!r} is not a torch device; use cpu, cuda or cuda:<index>.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise CliError(f"--device {name}: no CUDA GPU is available here; use --device cpu.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CliError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here.")
    elif device.type != "cpu":
        raise CliError(f"--device {name}: only cpu and cuda are supported.")
    return device


def output_paths(inputs, out_dir, n_src: int, option: str = "--out-dir") -> dict:
    """{input: [output per source]}: ``<stem>_s<k>.wav`` in ``out_dir`` (beside each input when
    ``None``; :func:`~asteroid_mvae.models.chunked.source_paths`), or ``<stem>.<ext>_s<k>.wav`` /
    ``<parent>_<stem>_s<k>.wav`` (then with the
    extension) for every input where two would share a name. :class:`CliError` before any work if
    two inputs would still share an output or an output would overwrite an input (``option`` names
    the output folder's option in the message)."""

    from ..models.chunked import source_paths

    def names(path, style):
        stem = (path.stem, path.name, f"{path.parent.name}_{path.stem}", f"{path.parent.name}_{path.name}")[style]
        return source_paths(path.parent if out_dir is None else out_dir, stem, n_src)

    for style in range(4):
        outputs = {path: names(path, style) for path in inputs}
        flat = [o.resolve() for outs in outputs.values() for o in outs]
        if len(set(flat)) == len(flat):
            break
    else:
        raise CliError(f"several inputs map to the same output names; separate them into different {option} folders.")
    sources = {path.resolve(): path for path in inputs}
    for outs in outputs.values():
        for out in outs:
            if out.resolve() in sources:
                raise CliError(
                    f"output {out} would overwrite the input {sources[out.resolve()]}; choose another {option}."
                )
    return outputs


def check_existing_outputs(outputs: dict, force: bool, flag: str = "-f/--force"):
    """:class:`CliError` naming the first output that exists already (unless ``force``) or that
    is not a file (a folder or link: never replaced)."""
    for out in (o for outs in outputs.values() for o in outs):
        if out.is_symlink() or (out.exists() and not out.is_file()):
            raise CliError(f"output {out} exists and is not a plain file; move it away or choose another folder.")
        if out.exists() and not force:
            raise CliError(f"output {out} exists already (an earlier run?); pass {flag} to replace it.")


def check_out_dir(out_dir: Path, option: str = "--out-dir"):
    """Create ``out_dir`` and prove it writable, before any separation runs."""
    from ..utils.io import make_writable_folder

    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"{option} {out_dir} exists and is not a folder.")
    try:
        make_writable_folder(out_dir)
    except OSError as err:
        raise CliError(f"{option} {out_dir} is not writable ({err.strerror or err}).") from None


def wav_shortfall(path) -> int:
    """:func:`asteroid_mvae.utils.io.wav_shortfall` (kept here for callers that import it from here)."""
    from ..utils.io import wav_shortfall as shortfall

    return shortfall(path)


def audio_problem(
    path: Path, sample_rate: int, n_src: int, resample: bool = False, rate_hint: str = "resample it first"
):
    """What makes ``path`` unusable for a separation into ``n_src`` sources at ``sample_rate`` (one
    line naming it), or ``None``: read from its header only (unreadable, truncated wav, mono, too
    few channels, another sample rate unless ``resample``; ``rate_hint`` ends that message)."""
    import soundfile as sf

    try:
        missing = wav_shortfall(path)
    except OSError as err:
        return f"cannot read {path}: {err.strerror or err}"
    if missing:
        return f"{path}: truncated wav ({missing} bytes of its data chunk are missing); re-copy or re-export it."
    try:
        info = sf.info(str(path))
    except Exception as err:  # soundfile raises several types for unreadable files
        return f"cannot read {path}: {first_line(err)}"
    if info.frames <= 0:
        return f"{path}: no audio samples."
    if info.samplerate != int(sample_rate) and not resample:
        return f"{path}: sample rate {info.samplerate} Hz, but the model expects {int(sample_rate)} Hz; {rate_hint}."
    if info.channels == 1:
        return f"{path}: mono file; multichannel separation needs at least {n_src} channels."
    if info.channels < n_src:
        return f"{path}: {info.channels} channels but {n_src} sources requested; need at least {n_src} microphones."
    return None


def check_numbers(args):
    """:class:`CliError` for a count or length below its minimum."""
    for name, value, low in (
        ("--n-src", args.n_src, 1),
        ("--n-iter", args.n_iter, 1),
        ("--refine-steps", args.refine_steps, 0),
        ("--init-ilrma", args.init_ilrma, 0),
        ("--n-steps", args.n_steps, 1),
    ):
        if value is not None and value < low:
            raise CliError(f"{name} must be at least {low}, got {value}.")
    for name, value in (("--ola-window", args.ola_window), ("--ola-hop", args.ola_hop)):
        if value is not None and value < 1:
            raise CliError(f"{name} must be a positive number of samples; got {value}")
    if args.lr is not None and not 0 < args.lr < float("inf"):
        raise CliError(f"--lr must be a positive number, got {args.lr}.")
    if args.ola_hop is not None and args.ola_window is None:
        raise CliError("--ola-hop needs --ola-window (-w)")


def check_chunks(args, model):
    """Chunks no shorter than the model's STFT, and a hop between the model's STFT hop (models
    without an STFT: 1/64 of the window) and the window: bounded work, a chunk per sample
    would run for hours."""
    if args.ola_window is None:
        return
    stft = getattr(model, "stft_config", None)
    if stft is not None and args.ola_window < stft.n_fft:
        raise CliError(f"--ola-window {args.ola_window} is shorter than the model's STFT ({stft.n_fft})")
    low = stft.hop_length if stft is not None else max(1, args.ola_window // 64)
    if args.ola_hop is not None and not low <= args.ola_hop <= args.ola_window:
        what = "the model's STFT hop" if stft is not None else "1/64 of --ola-window"
        raise CliError(
            f"--ola-hop must be between {what} ({low}) and --ola-window ({args.ola_window}); got {args.ola_hop}"
        )


def load(args, device):
    """The model of ``--model`` with the overrides of the command line, on ``device``, in eval mode."""
    from ..models import load_model
    from ..models.base import with_postfilter

    overrides = {k: v for k, v in (("n_src", args.n_src), ("n_iter", args.n_iter)) if v is not None}
    try:
        model = load_model(args.model, **overrides)
        if args.init_ilrma is not None:
            model = with_deep_setting(model, "--init-ilrma", "init_ilrma", args.init_ilrma)
        if args.fallback is not None:
            model = with_deep_setting(model, "--fallback", "fallback", args.fallback)
        if args.n_steps is not None or args.lr is not None:
            model = with_mvae_steps(model, args.n_steps, args.lr)
        if args.refine_steps is not None:
            model = with_refine_steps(model, args.refine_steps)
        if args.postfilter is not None:
            model = with_postfilter(model, args.postfilter)
    except (FileNotFoundError, ValueError) as err:
        raise CliError(str(err)) from None
    return model.to(device).eval()


def plan(args, files, outputs, model, n_src):
    """``(todo, failures)``: the inputs to separate (those with an earlier run's outputs left out
    with ``--skip-existing``) and, with ``--keep-going``, those whose header shows a problem."""
    todo, failures = [], []
    for path in files:  # headers only: no file is loaded twice
        existing = [out for out in outputs[path] if out.exists()]
        if existing and args.skip_existing and not args.force:
            log.warning("%s exists; skipping %s (pass -f to replace it)", existing[0], path)
            continue
        problem = audio_problem(path, model.sample_rate, n_src, resample=args.resample, rate_hint="pass -r/--resample")
        if problem:
            if not args.keep_going:
                raise CliError(problem)
            log.error("%s", problem)
            failures.append(path)
            continue
        todo.append(path)
    return todo, failures


def run(args):
    from ..models.chunked import FileSeparation

    device = check_device(args.device)
    check_numbers(args)
    files = expand_files(args.files)
    model = load(args, device)
    check_chunks(args, model)
    n_src = getattr(model, "n_src", 2)
    out_dir = Path(args.out_dir) if args.out_dir is not None else None  # None: beside each input
    # everything that can be known before separating is checked before the first output is written
    outputs = output_paths(files, out_dir, n_src)
    check_existing_outputs(outputs, args.force or args.skip_existing)  # folders and links: never replaced
    todo, failures = plan(args, files, outputs, model, n_src)
    if out_dir is not None and todo:
        check_out_dir(out_dir)
    runner = FileSeparation(model, args.ola_window, args.ola_hop, args.ola_window_type, not args.ola_no_reorder, device)
    for path in todo:  # a line per file is the progress
        try:
            written = runner.separate_file(path, force_overwrite=True, resample=args.resample, outputs=outputs[path])
        except ValueError as err:  # e.g. a non-finite sample, too short a file, non-finite estimates
            message = str(err) if str(path) in str(err) else f"{path}: {err}"
            if not args.keep_going:
                raise CliError(message) from None
            log.error("%s", message)
            failures.append(path)
            continue
        print(f"{path} -> {', '.join(map(str, written))}")
    if failures:
        failures = [p for p in files if p in failures]
        raise CliError(f"{len(failures)} of {len(files)} files failed: {', '.join(map(str, failures))}")


def with_deep_setting(model, option: str, name: str, value):
    """``model`` (a deep separator: MVAE, FastMVAE, FastMVAE2) with its attribute ``name`` set to
    ``value`` (the command line's ``option``); ``ValueError`` naming ``option`` for other models."""
    from ..models.mvae import DeepSeparator

    if not isinstance(model, DeepSeparator):
        raise ValueError(
            f"{option} applies to the deep separators (MVAE, FastMVAE, FastMVAE2), not to {type(model).__name__}."
        )
    setattr(model, name, value)
    return model


def with_mvae_steps(model, steps: Optional[int], lr: Optional[float]):
    """``model`` (MVAE) with ``steps`` Adam steps per iteration at rate ``lr`` (``None``: the model's);
    ``ValueError`` for other models."""
    from ..models import MVAE

    if not isinstance(model, MVAE):
        option = "--n-steps" if steps is not None else "--lr"
        raise ValueError(f"{option} applies to MVAE models, not to {type(model).__name__}.")
    if steps is not None:
        model.n_steps = steps
    if lr is not None:
        model.lr = lr
    return model


def with_refine_steps(model, steps: int):
    """``model`` with ``refine_steps = steps`` (FastMVAE, FastMVAE2); ``ValueError`` for other models."""
    from dataclasses import replace

    from ..models import FastMVAE, FastMVAE2

    if not isinstance(model, (FastMVAE, FastMVAE2)):
        raise ValueError(f"--refine-steps applies to FastMVAE and FastMVAE2 models, not to {type(model).__name__}.")
    model.refinement = replace(model.refinement, steps=steps)
    return model
