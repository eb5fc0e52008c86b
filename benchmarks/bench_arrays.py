"""Time and memory of every microphone and of joint dereverberation, against the plain separator.

For 10-s mixtures of the paper's room protocol with a uniform circular array of M = 2N
microphones (the M = N array: every other microphone, as ``egs/vcc2018/local/arrays_vcc2018.py``),
60 iterations: seconds per mixture and peak memory of each form of AuxIVA and ILRMA, each over
the plain M = N separator measured in the same run (the reference):

- ``pca``: M = 2N reduced to N by PCA (``mics="pca"``);
- ``overiva``: M = 2N by OverIVA (``mics="all"``, the default);
- ``overiva+mwf``: that, then the multichannel Wiener post-filter (``postfilter="auto"``, the default);
- ``t``: M = N with the prediction filter (AuxIVA-T / ILRMA-T, ``taps=3, delay=1``).

Each configuration runs in a fresh child process: its peak RSS minus the RSS after imports, the
model and a 1-s warm-up (the compiled kernels) is the memory the separation itself took.
SI-SDR improvements against the reverberant images at microphone 0 show the forms did their job
(on the built-in synthetic corpus unless ``--corpus-dir``)::

    python benchmarks/bench_arrays.py [--n-src 2 3] [--n-mixtures 3] [--threads 1]

Run it on a quiet machine: another heavy job slows our engine more than the others.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

FORMS = {  # name -> (M over N, constructor options)
    "plain": (1, {"postfilter": "none"}),
    "pca": (2, {"mics": "pca", "postfilter": "none"}),
    "overiva": (2, {"mics": "all", "postfilter": "none"}),
    "overiva+mwf": (2, {"mics": "all", "postfilter": "auto"}),
    "t": (1, {"taps": 3, "delay": 1, "postfilter": "none"}),
}
METHODS = ("auxiva", "ilrma")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--forms", nargs="+", default=list(FORMS), choices=list(FORMS))
    parser.add_argument("--n-mixtures", type=int, default=3, help="mixtures per N (times and SI-SDR averaged)")
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--corpus-dir", default=None, help="speaker-folder corpus (default: built-in synthetic)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "FORM", "FOLDER"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_mixtures(args, n_src: int, folder: str) -> None:
    """Simulate ``args.n_mixtures`` mixtures with ``2 n_src`` microphones into ``folder``."""
    from asteroid_mvae.data.corpora import BuiltinCorpus, FolderCorpus
    from asteroid_mvae.data.rooms import RoomConfig, simulate_mixtures

    corpus = FolderCorpus(args.corpus_dir) if args.corpus_dir else BuiltinCorpus(n_speakers=max(4, n_src), seed=0)
    config = RoomConfig(duration=args.seconds, n_mics=2 * n_src)
    simulate_mixtures(corpus, folder, n_src=n_src, n_mixtures=args.n_mixtures, seed=0, config=config)


def child(method: str, form: str, folder: str, args) -> dict:
    """One configuration on every mixture of ``folder``: seconds, SI-SDRi and memory."""
    import torch

    from asteroid_mvae.data.datasets import MixtureDataset
    from asteroid_mvae.evaluation.metrics import si_sdr_improvement
    from asteroid_mvae.models import load_model

    torch.set_num_threads(args.threads)
    dataset = MixtureDataset(folder)
    factor, options = FORMS[form]
    n_src = dataset[0][1].shape[0]
    model = load_model(method, n_src=n_src, n_iter=args.n_iter, **options)
    step = 2 // factor  # M = N: every other microphone of the 2N circle
    with torch.no_grad():
        model.forward_wav(dataset[0][0][::step, :16000])  # compiled kernels' load: not measured
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds, gains = [], []
    for index in range(len(dataset)):
        mixture, references = dataset[index]
        wav = mixture[::step]
        start = time.perf_counter()
        with torch.no_grad():
            estimates = model.forward_wav(wav)
        seconds.append(time.perf_counter() - start)
        gains.append(float(si_sdr_improvement(mixture[0], references, estimates).mean()))
    return {
        "method": method,
        "form": form,
        "N": n_src,
        "M": wav.shape[0],
        "seconds": sum(seconds) / len(seconds),
        "si_sdri": sum(gains) / len(gains),
        "memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before,
    }


def run_child(args, method: str, form: str, folder: str) -> dict:
    command = [sys.executable, __file__, "--child", method, form, folder]
    command += ["--n-iter", str(args.n_iter), "--threads", str(args.threads)]
    out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode:
        return {"method": method, "form": form, "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows) -> str:
    lines = [
        "| method | form | N | M | s/mixture | time / plain | memory (MB) | memory / plain | SI-SDRi (dB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    plain = {(r["method"], r["N"]): r for r in rows if r.get("form") == "plain" and "error" not in r}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['form']} | | | failed: {r['error']} | | | | |")
            continue
        p = plain.get((r["method"], r["N"]))
        time_ratio = f"{r['seconds'] / p['seconds']:.2f}" if p else ""
        mem_ratio = f"{r['memory_mb'] / p['memory_mb']:.2f}" if p and p["memory_mb"] > 0 else ""
        lines.append(
            f"| {r['method']} | {r['form']} | {r['N']} | {r['M']} | {r['seconds']:.2f} | {time_ratio} | "
            f"{r['memory_mb']:.0f} | {mem_ratio} | {r['si_sdri']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_arrays_") as tmp:
        for n_src in args.n_src:
            folder = os.path.join(tmp, f"n{n_src}")
            make_mixtures(args, n_src, folder)
            for method in args.methods:
                for form in ["plain"] + [f for f in args.forms if f != "plain"]:
                    rows.append(run_child(args, method, form, folder))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        f"{args.seconds:g}-s mixtures, {args.n_mixtures} per N, {args.n_iter} iterations, {args.threads} torch "
        f"thread(s), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end\n"
    )
    print(table(rows))
    print(
        "memory: peak RSS of the child process minus its peak after imports, model and a 1-s warm-up; "
        "time and memory / plain: over the plain M = N separator of the same method and N in this run."
    )


if __name__ == "__main__":
    main()
