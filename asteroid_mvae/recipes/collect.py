"""One report over several evaluation folders: ``asteroid-mvae recipe collect --eval-dirs A B --out C``.

The recipes evaluate each number of sources in its own folder (``eval/n2``, ``eval/n3``:
their mixture ids overlap). This step concatenates their ``all_metrics.csv`` and
``curves.jsonl`` into ``C`` (mixture ids prefixed with the folder name, e.g. ``n2/mix000000``),
writes the report there (``results.md``, ``final_metrics.json``, curves and PNGs, see
:func:`asteroid_mvae.evaluation.make_report`) and, with ``--print-table``, prints the table.
Rerunning rewrites ``C`` from the current folders.
"""

import json
from pathlib import Path


def merge_folders(eval_dirs, out_dir) -> Path:
    """Write ``out_dir/all_metrics.csv`` and ``out_dir/curves.jsonl`` from ``eval_dirs``; return the CSV."""
    import pandas as pd

    from ..evaluation.evaluate import CURVES_JSONL, METRICS_CSV
    from ..evaluation.report import load_curves
    from ..utils.io import atomic_path, write_text

    frames, curve_lines = [], []
    for folder in map(Path, eval_dirs):
        csv_path = folder / METRICS_CSV
        if not csv_path.is_file():
            raise FileNotFoundError(f"{csv_path} not found: run the evaluation stage first")
        frame = pd.read_csv(csv_path)
        frame["mixture_id"] = folder.name + "/" + frame["mixture_id"].astype(str)
        frames.append(frame)
        for record in load_curves(folder / CURVES_JSONL):
            record["mixture_id"] = f"{folder.name}/{record['mixture_id']}"
            curve_lines.append(json.dumps(record) + "\n")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / METRICS_CSV) as tmp:
        pd.concat(frames, ignore_index=True).to_csv(tmp, index=False)
    write_text(out_dir / CURVES_JSONL, "".join(curve_lines))
    return out_dir / METRICS_CSV


def add_arguments(parser):
    parser.add_argument("--eval-dirs", nargs="+", required=True, help="evaluation folders (one per N)")
    parser.add_argument("--out", required=True, help="folder of the combined report")
    parser.add_argument("--print-table", action="store_true", help="print the comparison table")
    return parser


def run(args) -> int:
    from ..evaluation import make_report

    merge_folders(args.eval_dirs, args.out)  # FileNotFoundError / ValueError: one line from the command line
    paths = make_report(args.out)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    if args.print_table:
        print()
        print(Path(paths["table"]).read_text(encoding="utf-8"))
    return 0
