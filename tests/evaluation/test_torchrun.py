"""Sharded evaluation really run with torchrun (2 CPU processes), then merged: the same rows as
one process on the same mixtures."""

import os
import subprocess
import sys

import pandas as pd

COMMON = [
    "--toy",
    "4",
    "--methods",
    "auxiva",
    "ilrma",
    "--metrics",
    "si_sdr",
    "sdr",
    "--n-iter",
    "3",
    "--n-fft",
    "512",
    "--hop-length",
    "256",
    "--n-examples",
    "0",
    "--no-track",
]


def _run(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(cwd)}
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_torchrun_shards_merge_into_the_single_process_table(tmp_path):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    _run(["-m", "asteroid_mvae", "evaluate", *COMMON, "--out", str(tmp_path / "single")], repo)
    _run(
        [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29631",
            "-m",
            "asteroid_mvae",
            "evaluate",
            "--shard-from-env",
            *COMMON,
            "--out",
            str(tmp_path / "sharded"),
            "--no-report",
        ],
        repo,
    )
    _run(["-m", "asteroid_mvae", "report", "--out", str(tmp_path / "sharded"), "--num-shards", "2"], repo)
    key = ["method", "mixture_id"]
    single = pd.read_csv(tmp_path / "single" / "all_metrics.csv").sort_values(key).reset_index(drop=True)
    merged = pd.read_csv(tmp_path / "sharded" / "all_metrics.csv").sort_values(key).reset_index(drop=True)
    assert len(single) == len(merged) == 8
    metrics = [c for c in single.columns if c.startswith(("si_sdr", "sdr"))]
    pd.testing.assert_frame_equal(single[key + metrics], merged[key + metrics], rtol=1e-6)
    assert (tmp_path / "sharded" / "results.md").is_file()
