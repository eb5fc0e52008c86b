"""``asteroid-mvae infer``: asteroid-infer's options, for our multichannel separators.

asteroid-infer never imports plugins, keeps the first channel only and rescales the
estimates; this reads every channel, resamples every channel (``-r``), separates long files
in overlapping chunks of all channels (``-w``) and keeps the reference-microphone scale.
Outputs: ``<name>_est<k>.wav`` beside each file or in ``--output-dir`` (asteroid's names; where
two inputs would share them, the names of ``separate``). Existing outputs are kept (skipped, as
asteroid-infer does) unless ``-f``; an output never replaces an input, and every input is checked
before the first output is written.
"""
import glob
import logging
from pathlib import Path

from . import CliError

log = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".wav", ".flac")


def add_parser(subparsers):
    parser = subparsers.add_parser("infer", help="separate files with a saved model (asteroid-infer's options)",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("url_or_path", help="saved model (model.pth, publish folder, network.pt) or hub id")
    parser.add_argument("--files", nargs="+", required=True, help="audio files, folders or globs")
    parser.add_argument("-f", "--force-overwrite", action="store_true", help="overwrite existing outputs")
    parser.add_argument("-r", "--resample", action="store_true", help="resample files at another rate (all channels)")
    parser.add_argument("-w", "--ola-window", type=int, help="separate in overlapping chunks of this many samples")
    parser.add_argument("--ola-hop", type=int, help="chunk hop in samples (default: window // 2)")
    parser.add_argument("--ola-window-type", default="hann", help="chunk window (scipy name; default hann)")
    parser.add_argument("--ola-no-reorder", action="store_true", help="do not align the sources of successive chunks")
    parser.add_argument("-o", "--output-dir", help="output folder (default: beside each file)")
    parser.add_argument("-d", "--device", default="cpu", help="torch device (default cpu)")
    parser.set_defaults(func=run)


def expand_files(specs) -> list:
    """Files from paths, folders (their audio files, recursively) and globs, in order, once each."""
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
            raise CliError(f"--files {spec}: no such file, folder with audio, or matching glob")
        if not path.is_file():  # a folder or glob: an earlier run's outputs beside their inputs are not inputs
            found = [p for p in found if not is_output_of(p, found)]
        files += [p for p in found if p not in files]
    return files


def is_output_of(path: Path, others) -> bool:
    """Whether ``path`` is named like the output ``<stem>_est<k>.wav`` of another file among ``others``
    in its folder."""
    import re

    match = re.fullmatch(r"(.+)_est\d+", path.stem)
    return bool(match) and path.suffix.lower() == ".wav" and any(
        o.parent == path.parent and o.stem == match.group(1) and o != path for o in others)


def run(args):
    from ..models import load_model
    from ..models.chunked import FileSeparation
    from .separate import audio_problem, check_device, check_existing_outputs, check_out_dir, output_paths

    device = check_device(args.device)
    for name, value in (("--ola-window", args.ola_window), ("--ola-hop", args.ola_hop)):
        if value is not None and value < 1:
            raise CliError(f"{name} must be a positive number of samples; got {value}")
    files = expand_files(args.files)
    try:
        model = load_model(args.url_or_path).to(device).eval()
    except (FileNotFoundError, ValueError) as err:
        raise CliError(str(err)) from None
    if args.ola_window is not None and args.ola_window < model.stft_config.n_fft:
        raise CliError(f"--ola-window {args.ola_window} is shorter than the model's STFT ({model.stft_config.n_fft})")
    if args.ola_hop is not None:  # bounded work: a chunk per sample would run for hours
        if args.ola_window is None:
            raise CliError("--ola-hop needs --ola-window (-w)")
        low = model.stft_config.hop_length
        if not low <= args.ola_hop <= args.ola_window:
            raise CliError(f"--ola-hop must be between the model's STFT hop ({low}) and --ola-window "
                           f"({args.ola_window}); got {args.ola_hop}")
    n_src = getattr(model, "n_src", 2)
    # every output is named and every input's header read before the first output is written
    outputs = output_paths(files, Path(args.output_dir) if args.output_dir else None, n_src, tag="est",
                           option="--output-dir")
    check_existing_outputs(outputs, force=True)  # folders and links are never replaced
    todo = []
    for path in files:
        existing = [out for out in outputs[path] if out.exists()]
        if existing and not args.force_overwrite:  # asteroid-infer's behaviour: keep them, say so
            log.warning("%s exists; pass -f/--force-overwrite to replace it", existing[0])
            continue
        problem = audio_problem(path, model.sample_rate, n_src, resample=args.resample,
                                rate_hint="pass -r/--resample")
        if problem:
            raise CliError(problem)
        todo.append(path)
    if args.output_dir and todo:
        check_out_dir(Path(args.output_dir), option="--output-dir")
    runner = FileSeparation(model, args.ola_window, args.ola_hop, args.ola_window_type, not args.ola_no_reorder, device)
    for path in todo:
        try:
            written = runner.separate_file(path, force_overwrite=args.force_overwrite, resample=args.resample,
                                           outputs=outputs[path])
        except ValueError as err:
            raise CliError(str(err) if str(path) in str(err) else f"{path}: {err}") from None
        if written:
            print(f"{path} -> {', '.join(map(str, written))}")
