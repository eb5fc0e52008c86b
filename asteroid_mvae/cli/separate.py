"""``asteroid-mvae separate``: multichannel wav files in, one wav per estimated source out."""
import logging
from pathlib import Path

from . import CliError

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


def output_paths(inputs, out_dir: Path, n_src: int) -> dict:
    """{input: [output per source]}: ``<stem>_s<k>.wav``, or ``<stem>.<ext>_s<k>.wav`` /
    ``<parent>_<stem>_s<k>.wav`` (then with the extension) where stems collide. :class:`CliError` before any work if two
    inputs would still share an output or an output would overwrite an input."""
    def names(path, style):
        stem = (path.stem, path.name, f"{path.parent.name}_{path.stem}", f"{path.parent.name}_{path.name}")[style]
        return [out_dir / f"{stem}_s{k}.wav" for k in range(1, n_src + 1)]

    for style in range(4):
        outputs = {path: names(path, style) for path in inputs}
        flat = [o.resolve() for outs in outputs.values() for o in outs]
        if len(set(flat)) == len(flat):
            break
    else:
        raise CliError("several inputs map to the same output names; separate them into different --out-dir folders.")
    sources = {path.resolve(): path for path in inputs}
    for outs in outputs.values():
        for out in outs:
            if out.resolve() in sources:
                raise CliError(f"output {out} would overwrite the input {sources[out.resolve()]}; choose another --out-dir.")
    return outputs


def check_out_dir(out_dir: Path):
    """Create ``out_dir`` and prove it writable, before any separation runs."""
    from ..utils.io import make_writable_folder

    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"--out-dir {out_dir} exists and is not a folder.")
    try:
        make_writable_folder(out_dir)
    except OSError as err:
        raise CliError(f"--out-dir {out_dir} is not writable ({err.strerror or err}).") from None


def wav_shortfall(path: Path) -> int:
    """Bytes missing from a RIFF/WAVE file whose ``data`` chunk is declared longer than the file
    (0 for complete files and other formats; libsndfile reads truncated wavs silently)."""
    import struct

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return 0
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                return max(0, f.tell() + length - size) if length != 0xFFFFFFFF else 0
            f.seek(length + (length & 1), 1)


def read_multichannel(path: Path, sample_rate: int, n_src: int):
    """``[mics, time]`` float32 array; raises :class:`CliError` naming the problem."""
    import soundfile as sf

    missing = wav_shortfall(path)
    if missing:
        raise CliError(f"{path}: truncated wav ({missing} bytes of its data chunk are missing); re-copy or re-export it.")

    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types for unreadable files
        raise CliError(f"cannot read {path}: {err}") from None
    if sr != sample_rate:
        raise CliError(f"{path}: sample rate {sr} Hz, but the model expects {int(sample_rate)} Hz; resample it first.")
    if audio.shape[1] == 1:
        raise CliError(f"{path}: mono file; multichannel separation needs at least {n_src} channels.")
    if audio.shape[1] < n_src:
        raise CliError(f"{path}: {audio.shape[1]} channels but {n_src} sources requested; need at least {n_src} microphones.")
    return audio.T


def run(args):
    from ..models import load_model
    from ..utils.io import write_wav

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
    outputs = output_paths(paths, out_dir, n_src)
    check_out_dir(out_dir)
    failures = []
    for path in paths:  # a line per file is the progress
        try:
            estimates = separate_file(model, path, device)
        except CliError as err:
            if not args.keep_going:
                raise
            log.error("%s", err)
            failures.append(path)
            continue
        for out, source in zip(outputs[path], estimates):
            write_wav(out, source, int(model.sample_rate))
        print(f"{path} -> {', '.join(map(str, outputs[path]))}")
    if failures:
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
