"""``asteroid-mvae separate``: multichannel wav files in, one wav per estimated source out."""
import logging
from pathlib import Path

from . import CliError, first_line

log = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "separate",
        help="separate multichannel wav files",
        description="Separate multichannel recordings; writes <out-dir>/<name>_s<k>.wav for each source.",
    )
    parser.add_argument("files", nargs="+", help="multichannel audio files (wav/flac), [time, mics]")
    parser.add_argument("--model", default="ilrma", help="a model name (auxiva, ilrma, ...) or a saved model path")
    parser.add_argument("--out-dir", default="separated", help="output folder (default: separated)")
    parser.add_argument("--n-src", type=int, default=None, help="number of sources (default: the model's)")
    parser.add_argument("--n-iter", type=int, default=None, help="iterations (default: the model's)")
    parser.add_argument("--refine-steps", type=int, default=None,
                        help="FastMVAE/FastMVAE2: Adam steps refining the encoder's answer at every iteration "
                             "(semi-amortized inference; default: the model's)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    parser.add_argument("--keep-going", action="store_true",
                        help="on a file that fails, go on with the others; report the failures at the end (exit 2)")
    parser.add_argument("-f", "--force", action="store_true",
                        help="replace outputs of an earlier run (default: refuse, before any work, if one exists)")
    parser.set_defaults(func=run)


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


def output_paths(inputs, out_dir, n_src: int, tag: str = "s", option: str = "--out-dir") -> dict:
    """{input: [output per source]}: ``<stem>_<tag><k>.wav`` in ``out_dir`` (beside each input when
    ``None``), or ``<stem>.<ext>_<tag><k>.wav`` / ``<parent>_<stem>_<tag><k>.wav`` (then with the
    extension) for every input where two would share a name. :class:`CliError` before any work if
    two inputs would still share an output or an output would overwrite an input (``option`` names
    the output folder's option in the message)."""
    def names(path, style):
        stem = (path.stem, path.name, f"{path.parent.name}_{path.stem}", f"{path.parent.name}_{path.name}")[style]
        folder = path.parent if out_dir is None else Path(out_dir)
        return [folder / f"{stem}_{tag}{k}.wav" for k in range(1, n_src + 1)]

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
                raise CliError(f"output {out} would overwrite the input {sources[out.resolve()]}; choose another {option}.")
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


def audio_problem(path: Path, sample_rate: int, n_src: int, resample: bool = False,
                  rate_hint: str = "resample it first"):
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


def read_multichannel(path: Path, sample_rate: int, n_src: int):
    """``[mics, time]`` float32 array; raises :class:`CliError` naming the problem."""
    import soundfile as sf

    problem = audio_problem(path, sample_rate, n_src)
    if problem:
        raise CliError(problem)
    try:
        audio, _ = sf.read(str(path), dtype="float32", always_2d=True)  # rate and channels checked above
    except Exception as err:  # soundfile raises several types for unreadable files
        raise CliError(f"cannot read {path}: {first_line(err)}") from None
    return audio.T


def run(args):
    from ..models import load_model
    from ..utils.io import write_wavs

    device = check_device(args.device)
    for name, value in (("--n-src", args.n_src), ("--n-iter", args.n_iter)):
        if value is not None and value < 1:
            raise CliError(f"{name} must be at least 1, got {value}.")
    if args.refine_steps is not None and args.refine_steps < 0:
        raise CliError(f"--refine-steps must be at least 0, got {args.refine_steps}.")
    paths = [Path(f) for f in args.files]
    for path in paths:
        if not path.is_file():
            raise CliError(f"no such file: {path}")
    overrides = {k: v for k, v in (("n_src", args.n_src), ("n_iter", args.n_iter)) if v is not None}
    try:
        model = load_model(args.model, **overrides)
        if args.refine_steps is not None:
            model = with_refine_steps(model, args.refine_steps)
    except (FileNotFoundError, ValueError) as err:
        raise CliError(str(err)) from None
    model = model.to(device).eval()
    n_src = getattr(model, "n_src", 2)
    out_dir = Path(args.out_dir)
    # everything that can be known before separating is checked before the first output is written
    outputs = output_paths(paths, out_dir, n_src)
    check_existing_outputs(outputs, args.force)
    failures = []
    for path in paths:  # headers only: no file is loaded twice
        problem = audio_problem(path, model.sample_rate, n_src)
        if problem:
            if not args.keep_going:
                raise CliError(problem)
            log.error("%s", problem)
            failures.append(path)
    check_out_dir(out_dir)
    for path in paths:  # a line per file is the progress
        if path in failures:
            continue
        try:
            estimates = separate_file(model, path, device)
        except CliError as err:
            if not args.keep_going:
                raise
            log.error("%s", err)
            failures.append(path)
            continue
        write_wavs(outputs[path], estimates[: len(outputs[path])], int(model.sample_rate))  # all sources or none
        print(f"{path} -> {', '.join(map(str, outputs[path]))}")
    if failures:
        failures = [p for p in paths if p in failures]
        raise CliError(f"{len(failures)} of {len(paths)} files failed: {', '.join(map(str, failures))}")


def with_refine_steps(model, steps: int):
    """``model`` with ``refine_steps = steps`` (FastMVAE, FastMVAE2); ``ValueError`` for other models."""
    from dataclasses import replace

    from ..models import FastMVAE, FastMVAE2

    if not isinstance(model, (FastMVAE, FastMVAE2)):
        raise ValueError(f"--refine-steps applies to FastMVAE and FastMVAE2 models, not to {type(model).__name__}.")
    model.refinement = replace(model.refinement, steps=steps)
    return model


def separate_file(model, path: Path, device):
    """``[n_src, time]`` finite estimates of one file; :class:`CliError` naming the problem."""
    import numpy as np
    import torch

    mix = torch.from_numpy(read_multichannel(path, model.sample_rate, getattr(model, "n_src", 2))).to(device)
    try:
        with torch.no_grad():
            estimates = model.forward_wav(mix[None])[0].cpu().numpy()
    except ValueError as err:  # e.g. a non-finite sample, too short a file
        raise CliError(f"{path}: {err}") from None
    if not np.isfinite(estimates).all():  # never write unusable output with exit code 0
        raise CliError(f"{path}: the separation gave non-finite samples; nothing written for this file")
    return estimates
