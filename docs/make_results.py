"""Write ``docs/results.md`` from the committed results folders, so no table in the docs is copied.

Every folder of measured results (``egs/<recipe>/results/`` and its sub-folders,
``benchmarks/results/<benchmark>/``) becomes one section: its markdown files verbatim (the
tables the scripts wrote), its figures inline, its other files (CSV, JSON, YAML) as links.
Known folders get a title and the command that writes them (``SECTIONS``); a new folder shows
up under its own name without editing this file. Run from anywhere::

    python docs/make_results.py            # rewrite docs/results.md
    python docs/make_results.py --check    # exit 1 when docs/results.md differs from what this writes
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results.md"

#: folder (relative to the repository root) -> (title, how the folder is written)
SECTIONS = {
    "egs/demo/results": ("Demo recipe (built-in corpus)", "`make demo` (`bash egs/demo/run.sh`)"),
    "egs/vcc2018/results/zoo_vcc2018": (
        "VCC2018 zoo: every separator, speaker-closed",
        "`bash egs/vcc2018/run.sh --stage 1 --stop_stage 1`",
    ),
    "egs/vcc2018/results/zoo_vcc2018_rebuild": (
        "VCC2018 zoo rebuilt: denoising encoder, re-training data and steps",
        "`bash egs/vcc2018/run.sh --stage 2 --stop_stage 2`",
    ),
    "egs/vcc2018/results/zoo_open": (
        "VCC2018 zoo, speaker-open networks (LibriSpeech speakers)",
        "`bash egs/vcc2018/run.sh --stage 3 --stop_stage 3`",
    ),
    "egs/vcc2018/results/zoo_refine": (
        "Semi-amortized inference, speaker-closed and speaker-disjoint open",
        "`bash egs/vcc2018/run.sh --stage 4 --stop_stage 4`",
    ),
    "egs/vcc2018/results/gass_vcc2018": (
        "GASS and frame priors, single channel",
        "`bash egs/vcc2018/run.sh --stage 5 --stop_stage 5`",
    ),
    "egs/vcc2018/results/frame_prior_rooms": (
        "Frame priors as the IP engine's source model",
        "`bash egs/vcc2018/run.sh --stage 6 --stop_stage 6`",
    ),
    "egs/vcc2018/results/unsupervised_vcc2018": (
        "Unsupervised and mask-based single-channel separation",
        "`bash egs/vcc2018/run.sh --stage 7 --stop_stage 7`",
    ),
    "egs/vcc2018/results/retrain_vcc2018": (
        "Encoder re-training with mixture signals",
        "`bash egs/vcc2018/run.sh --stage 8 --stop_stage 8`",
    ),
    "egs/vcc2018/results/dereverb": (
        "Joint dereverberation (ILRMA-T, AuxIVA-T), N = M = 2",
        "`bash egs/vcc2018/run.sh --stage 9 --stop_stage 9`",
    ),
    "egs/vcc2018/results/dereverb_n3": (
        "Joint dereverberation, N = M = 3 (IP1 and T-ISS)",
        "`bash egs/vcc2018/run.sh --stage 9 --stop_stage 9`",
    ),
    "egs/vcc2018/results/dereverb_m4": (
        "Joint dereverberation, N = 2, M = 4",
        "`bash egs/vcc2018/run.sh --stage 9 --stop_stage 9`",
    ),
    "egs/vcc2018/results/dereverb_mvae": (
        "Joint dereverberation with the deep source model (MVAE-T)",
        "`bash egs/vcc2018/run.sh --stage 9 --stop_stage 9` (after stage 11)",
    ),
    "egs/vcc2018/results/dereverb_fastmvae2": (
        "Joint dereverberation with FastMVAE2 (FastMVAE2-T; ChimeraACVAE snapshot)",
        "`bash egs/vcc2018/run.sh --stage 9 --stop_stage 9` (after stage 11)",
    ),
    "egs/vcc2018/results/arrays": (
        "More microphones than sources (M = 2N), RT60 0.3 s",
        "`bash egs/vcc2018/run.sh --stage 10 --stop_stage 10`",
    ),
    "egs/vcc2018/results/arrays_rt600": (
        "More microphones than sources (M = 2N), RT60 0.6 s",
        "`bash egs/vcc2018/run.sh --stage 10 --stop_stage 10`",
    ),
    "egs/vcc2018/results/arrays_mvae": (
        "More microphones than sources with the deep source model (MVAE)",
        "`bash egs/vcc2018/run.sh --stage 10 --stop_stage 10` (after stage 11)",
    ),
    "egs/vcc2018/results/arrays_fastmvae2": (
        "More microphones than sources with FastMVAE2 (ChimeraACVAE snapshot)",
        "`bash egs/vcc2018/run.sh --stage 10 --stop_stage 10` (after stage 11)",
    ),
    "egs/vcc2018/results/zoo_authors": (
        "The authors' training scale, speaker-disjoint (CVAE, ChimeraACVAE; MVAE, FastMVAE2; ceilings)",
        "`bash egs/vcc2018/run.sh --stage 11 --stop_stage 11`",
    ),
    "egs/vcc2018/results/zoo_postfilter": (
        "The Wiener post-filter at M = N (ILRMA, AuxIVA, MVAE), speaker-disjoint",
        "`bash egs/vcc2018/run.sh --stage 11 --stop_stage 11`",
    ),
    "egs/vcc2018/results/zoo_authors_closed": (
        "The authors' training scale, speaker-closed (CVAE; MVAE)",
        "`bash egs/vcc2018/run.sh --stage 11 --stop_stage 11`",
    ),
    "egs/vcc2018/results/zoo_fallback": (
        "MVAE's envelope fallback, speaker-closed and speaker-open",
        "`bash egs/vcc2018/run.sh --stage 11 --stop_stage 11`",
    ),
    "benchmarks/results/bench_ip": ("Speed: IP engine against pyroomacoustics", "`python benchmarks/bench_ip.py`"),
    "benchmarks/results/bench_mvae": ("Speed: deep separators", "`python benchmarks/bench_mvae.py`"),
    "benchmarks/results/long_recordings": ("Memory: long recordings", "`python benchmarks/long_recordings.py`"),
    "benchmarks/results/under_load": ("Speed under load", "`python benchmarks/under_load.py`"),
    "benchmarks/results/bench_arrays": (
        "Speed and memory: every microphone and dereverberation",
        "`python benchmarks/bench_arrays.py`",
    ),
}
FIGURES = (".png", ".svg", ".jpg")


def result_folders(root: Path = ROOT) -> list:
    """Folders holding result files, relative to ``root``: the known ones in ``SECTIONS`` order, then the others."""
    found = set()
    for results in sorted(root.glob("egs/*/results")) + [root / "benchmarks" / "results"]:
        for folder in [results] + sorted(p for p in results.rglob("*") if p.is_dir()):
            if any(f.is_file() for f in folder.iterdir()):
                found.add(folder.relative_to(root).as_posix())
    known = [name for name in SECTIONS if name in found]
    return known + sorted(found - set(known))


def anchor(title: str) -> str:
    """GitHub's heading anchor of ``title``."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def section(root: Path, name: str) -> str:
    """Markdown of one results folder: heading, source, its tables, figures and other files."""
    folder = root / name
    title, command = SECTIONS.get(name, (name, None))
    lines = [
        f"## {title}",
        "",
        f"Folder: [`{name}/`](../{name}/)" + (f"; written by {command}." if command else "."),
        "",
    ]
    files = sorted(f for f in folder.iterdir() if f.is_file())
    tables = sorted((f for f in files if f.suffix == ".md"), key=lambda f: (f.name != "table.md", f.name))
    for table in tables:
        if len(tables) > 1:
            lines += [f"**{table.name}**", ""]
        lines += [table.read_text().strip(), ""]
    for figure in (f for f in files if f.suffix in FIGURES):
        lines += [f"![{figure.stem}](../{name}/{figure.name})", ""]
    others = [f for f in files if f.suffix != ".md" and f.suffix not in FIGURES]
    if others:
        lines += ["Other files: " + ", ".join(f"[{f.name}](../{name}/{f.name})" for f in others) + ".", ""]
    return "\n".join(lines)


def render(root: Path = ROOT) -> str:
    """The whole of ``docs/results.md``."""
    folders = result_folders(root)
    head = [
        "# Results",
        "",
        "<!-- generated by docs/make_results.py from the results folders: edit those, then rerun it -->",
        "",
        "Every table below is a file of a results folder, included as the script that measured it wrote it",
        "(recipes: `egs/*/results/`; speed and memory: `benchmarks/results/`). What the studies mean and",
        "their caveats: [zoo.md](zoo.md), [gass.md](gass.md), [benchmarks.md](benchmarks.md). Mean ± standard",
        "deviation over mixtures unless a column says paired (mean ± standard error of the per-mixture difference).",
        "s/mixture columns were measured on shared 2-core machines: compare them within one table only.",
        "",
    ]
    head += [f"- [{SECTIONS.get(name, (name,))[0]}](#{anchor(SECTIONS.get(name, (name,))[0])})" for name in folders]
    return "\n".join(head + [""] + [section(root, name) for name in folders]).rstrip("\n") + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python docs/make_results.py", file=sys.stderr)
            return 1
        return 0
    tmp = OUT.with_name(OUT.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
