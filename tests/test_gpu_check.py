"""benchmarks/gpu_check.py runs end to end (on the CPU, tiny sizes) and refuses a missing GPU in one line."""

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_cpu_run_prints_both_tables(gpu_check, capsys):
    gpu_check.main(["--device", "cpu", "--quick", "--n-src", "2"])
    out = capsys.readouterr().out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith("| ") and not line.startswith("| separator") and not line.startswith("| network")
    ]
    assert len(rows) == 3 * 2 + 3  # 3 separators x 2 batches, 3 networks
    assert "| fastmvae2 | 2 | 2 |" in out and "| ChimeraACVAE |" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_missing_gpu_is_one_line(gpu_check):
    with pytest.raises(SystemExit, match="no CUDA GPU is visible"):
        gpu_check.main(["--device", "cuda"])
