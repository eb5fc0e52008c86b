"""``asteroid-mvae separate``: multichannel wav files in, one wav per estimated source out."""
from pathlib import Path

from . import CliError


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
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    parser.set_defaults(func=run)


def read_multichannel(path: Path, sample_rate: int, n_src: int):
    """``[mics, time]`` float32 array; raises :class:`CliError` naming the problem."""
    import soundfile as sf

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
    import numpy as np
    import torch
    from tqdm import tqdm

    from ..models import load_model
    from ..utils.io import write_wav

    overrides = {k: v for k, v in (("n_src", args.n_src), ("n_iter", args.n_iter)) if v is not None}
    try:
        model = load_model(args.model, **overrides)
    except (FileNotFoundError, ValueError) as err:
        raise CliError(str(err)) from None
    model = model.to(args.device).eval()
    n_src = getattr(model, "n_src", 2)
    paths = [Path(f) for f in args.files]
    for path in paths:
        if not path.is_file():
            raise CliError(f"no such file: {path}")
    out_dir = Path(args.out_dir)
    for path in tqdm(paths, desc="separate", unit="file", disable=len(paths) < 2):
        mix = torch.from_numpy(read_multichannel(path, model.sample_rate, n_src)).to(args.device)
        try:
            with torch.no_grad():
                estimates = model.forward_wav(mix[None])[0].cpu().numpy()
        except ValueError as err:  # e.g. a non-finite sample, too short a file
            raise CliError(f"{path}: {err}") from None
        if not np.isfinite(estimates).all():  # never write unusable output with exit code 0
            raise CliError(f"{path}: the separation gave non-finite samples; nothing written for this file")
        for k, source in enumerate(estimates, start=1):
            write_wav(out_dir / f"{path.stem}_s{k}.wav", source, int(model.sample_rate))
        print(f"{path} -> {out_dir}/{path.stem}_s1..{len(estimates)}.wav")
