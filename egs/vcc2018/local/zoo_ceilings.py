"""Where the deep separators lose to the true variances: each source model's own ceiling.

``oracle_ip`` (the IP updates with the true source powers, floored at 0.1 of their mean over frames
in each bin) bounds every variance model. This study splits the gap between a separator and it
into what the source model cannot describe and what the separation does not find: for each test
mixture, each model is fitted to the true power spectrograms of the source images at the reference
microphone (given the images, as the oracles are), and the IP updates then run with that fitted
variance, fixed:

- ``oracle_ip_raw``: the true powers themselves, floored only at 1e-6 of their mean (no smoothing);
- ``oracle_nmf``: ILRMA's model, an NMF with ``--nmf-bases`` bases per source fitted to the true
  powers by ``--nmf-iter`` IS-NMF multiplicative updates;
- ``oracle_cvae``: MVAE's model, the CVAE decoder with the latent and label logits fitted to the true
  powers by ``--cvae-steps`` Adam steps (MVAE's loss, scale at its optimum);
- ``oracle_nmf_floor``, ``oracle_cvae_floor``: those fits floored as ``oracle_ip`` floors the true
  powers (0.1 of the mean over frames in each bin).

Rows compare with ``ilrma`` and ``oracle_ip`` on the same mixtures (and, in the report, with the
zoo's own evaluation of MVAE and FastMVAE2). A model whose ceiling is near ILRMA cannot beat ILRMA
whatever the inference; the distance between a separator and its model's ceiling is the inference's
share::

    python egs/vcc2018/local/zoo_ceilings.py --zoo exp/zoo_authors --threads 1 \\
        --results egs/vcc2018/results/zoo_authors
"""

import argparse
import logging
import sys
from pathlib import Path

import torch

log = logging.getLogger("zoo_ceilings")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="exp/zoo_authors", help="a zoo folder (zoo_vcc2018.py --out)")
    parser.add_argument("--cvae-package", default=None, help="default: <zoo>/cvae/network.pt")
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--test-mixtures", type=int, default=24)
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument("--n-fft", type=int, default=2048)
    parser.add_argument("--nmf-bases", type=int, default=2)
    parser.add_argument("--nmf-iter", type=int, default=200)
    parser.add_argument("--cvae-steps", type=int, default=200)
    parser.add_argument("--cvae-lr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report-only", action="store_true", help="only write the table from existing rows")
    parser.add_argument("--results", default=None, help="folder for ceilings.md (default: print it)")
    args = parser.parse_args(argv)
    for name in ("test_mixtures", "n_iter", "nmf_bases", "nmf_iter", "cvae_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.cvae_lr > 0:
        parser.error("--cvae-lr must be positive")
    return args


def check_inputs(args) -> None:
    """A one-line error (exit 2) for a missing input, before any work."""
    missing = []
    for n_src in args.n_src:
        if args.report_only:
            missing.append((Path(args.zoo) / "ceilings" / f"n{n_src}" / "all_metrics.csv", "run without --report-only"))
        else:
            missing.append((Path(args.zoo) / f"mix_test_{n_src}src" / "metadata.csv", "the zoo's test mixtures"))
    if not args.report_only:
        package = Path(args.cvae_package or Path(args.zoo) / "cvae" / "network.pt")
        missing.append((package, "the CVAE network package, --cvae-package"))
    for path, what in missing:
        if not path.is_file():
            print(f"zoo_ceilings.py: error: {path} is missing ({what})", file=sys.stderr)
            raise SystemExit(2)


_FITS = {}  # (kind, mixture's true powers) -> fitted variance: the floored rows reuse the fit


def fitted_oracle(kind: str, args, n_src: int, floor: float = 1e-6):
    """An ``OracleIP`` whose fixed variance is ``kind``'s model fitted to the true powers, floored at
    ``floor`` of its mean over frames in each bin (``oracle_ip``'s floor is 0.1)."""
    from asteroid_mvae.models import MVAE
    from asteroid_mvae.models.oracle import OracleIP
    from asteroid_mvae.separation.deep import CVAESource
    from asteroid_mvae.separation.source_models import NMF, FixedVariance
    from asteroid_mvae.separation.stft import stft

    network = None
    if kind == "cvae":
        package = Path(args.cvae_package or Path(args.zoo) / "cvae" / "network.pt")
        network = MVAE.from_network_package(package, n_src=n_src).network.eval()

    def fit(power: torch.Tensor) -> torch.Tensor:
        """The model's variance for ``power [batch, src, freq, frames]`` (the true powers)."""
        if kind == "raw":
            return power
        if kind == "nmf":
            model = NMF(n_basis=args.nmf_bases, seed=0)
            model.reset(power)
            for _ in range(args.nmf_iter):
                variance = model.update(power)
            return variance
        model = CVAESource(network, n_steps=args.cvae_steps, lr=args.cvae_lr)
        model.reset(power)
        return model.update(power).detach()

    class FittedOracle(OracleIP):
        def forward_wav(self, wav, references, callback=None, lengths=None):
            batch = wav[None] if wav.dim() == 2 else wav
            refs = references[None] if references.dim() == 2 else references
            power = stft(refs.to(torch.float32), self.stft_config).abs().pow(2)
            power = power.clamp_min(1e-6 * power.mean(3, keepdim=True).clamp_min(1e-30))
            key = (kind, power.shape, float(power.sum()), float((power * torch.arange(power.shape[-1])).sum()))
            if key not in _FITS:
                _FITS[key] = fit(power)
            model = FixedVariance(_FITS[key], floor=floor)
            estimates = self.separate_with_history(batch.to(torch.float32), callback, model).estimates
            return estimates[0] if wav.dim() == 2 else estimates

    return FittedOracle(n_src=n_src, n_iter=args.n_iter, n_fft=args.n_fft, hop_length=args.n_fft // 2)


def evaluate_n(args, n_src: int) -> Path:
    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.data.datasets import MixtureSubset
    from asteroid_mvae.evaluation import evaluate
    from asteroid_mvae.models import load_model
    from asteroid_mvae.models.oracle import OracleIP
    from asteroid_mvae.separation.stft import StftConfig

    dataset = MixtureDataset(Path(args.zoo) / f"mix_test_{n_src}src" / "metadata.csv")
    subset = MixtureSubset(dataset, list(range(min(args.test_mixtures, len(dataset)))))
    common = dict(n_src=n_src, n_iter=args.n_iter, n_fft=args.n_fft, hop_length=args.n_fft // 2)
    separators = {
        "ilrma": load_model("ilrma", **common),
        "oracle_ip": OracleIP(**common),
        "oracle_ip_raw": fitted_oracle("raw", args, n_src),
        "oracle_nmf": fitted_oracle("nmf", args, n_src),
        "oracle_cvae": fitted_oracle("cvae", args, n_src),
        "oracle_nmf_floor": fitted_oracle("nmf", args, n_src, floor=0.1),
        "oracle_cvae_floor": fitted_oracle("cvae", args, n_src, floor=0.1),
    }
    return evaluate(
        separators,
        subset,
        Path(args.zoo) / "ceilings" / f"n{n_src}",
        metrics_list=["si_sdr"],
        n_examples=0,
        track_iterations=False,
        stft_config=StftConfig(n_fft=args.n_fft, hop_length=args.n_fft // 2),
        progress=sys.stderr.isatty(),
    )


def report(args, csvs: dict) -> str:
    """Markdown: per N, the paired table of the ceilings, with the zoo's own MVAE rows beside them."""
    import pandas as pd

    from asteroid_mvae.evaluation.report import paired_differences

    lines = [
        f"Each source model's ceiling on the first {args.test_mixtures} test mixtures per N of "
        f"``{Path(args.zoo).name}`` (RT60 0.3 s, {args.n_iter} IP iterations): "
        f"``oracle_nmf`` (NMF, {args.nmf_bases} bases, "
        f"{args.nmf_iter} updates) and ``oracle_cvae`` (CVAE latent and label, {args.cvae_steps} Adam steps at "
        f"{args.cvae_lr:g}) fitted to the true source powers, then fixed; ``_floor``: floored at 0.1 of the mean "
        "over frames in each bin, as ``oracle_ip`` floors the true powers (``oracle_ip_raw``: 1e-6). The zoo's own "
        "separators (its evaluation of the same mixtures) for comparison.",
        "",
        "| N | method | mixtures | SI-SDRi (dB) | minus ilrma, paired (dB) | better | minus oracle_ip (dB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n_src, csv in csvs.items():
        df = pd.read_csv(csv)
        zoo_csv = Path(args.zoo) / "eval" / f"rt300_n{n_src}" / "all_metrics.csv"
        if zoo_csv.exists():  # the zoo's separators, on the same mixtures
            zoo = pd.read_csv(zoo_csv)
            zoo = zoo[~zoo["method"].isin(set(df["method"])) & zoo["mixture_id"].isin(set(df["mixture_id"]))]
            df = pd.concat([df, zoo], ignore_index=True)
        means = df.groupby("method")["si_sdr_imp"].mean().sort_values(ascending=False)
        for method, mean in means.items():
            against = paired_differences(df, method, "ilrma")
            ceiling = paired_differences(df, method, "oracle_ip")
            if not against or against["n"] < len(set(df[df["method"] == "ilrma"]["mixture_id"])):
                continue  # only methods run on every mixture
            lines.append(
                f"| {n_src} | {method} | {against['n']} | {mean:.2f} | {against['mean']:+.2f} ± {against['se']:.2f} | "
                f"{against['wins']}/{against['n']} | {ceiling['mean']:+.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    check_inputs(args)
    torch.set_num_threads(args.threads)
    csvs = {}
    for n_src in args.n_src:
        path = Path(args.zoo) / "ceilings" / f"n{n_src}" / "all_metrics.csv"
        csvs[n_src] = path if args.report_only else evaluate_n(args, n_src)
    text = report(args, csvs)
    if args.results:
        out = Path(args.results) / "ceilings.md"
        tmp = out.with_suffix(".md.tmp")
        tmp.write_text(text)
        tmp.replace(out)
        log.info("wrote %s", out)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
