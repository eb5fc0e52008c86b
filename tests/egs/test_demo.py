"""The demo recipe end to end at its tiny size (``egs/demo/run.sh --tiny true``), in tmp_path.

The chain runs once per module (every stage whose command exists in this version); the
tests check its outputs. Stages that need commands not in this version (MVAE-family
separators, encoder re-training) are reported as skipped, with the missing name.
"""

import importlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "egs" / "demo" / "run.sh"
BASE_METHODS = ["auxiva", "ilrma", "pra_auxiva", "pra_ilrma", "pra_fastmnmf2", "convtasnet", "oracle_ip", "oracle_ls"]
MVAE_METHODS = ["mvae", "fastmvae2"]


def separators_missing():
    """Why stage 4 cannot run here ('' when it can)."""
    from asteroid_mvae.models import MODEL_NAMES

    for name in MVAE_METHODS:
        if name not in MODEL_NAMES:
            return f"asteroid_mvae.models.MODEL_NAMES has no {name!r} yet"
        module, cls = MODEL_NAMES[name]
        if not hasattr(getattr(importlib.import_module(module), cls), "from_network_package"):
            return f"{cls}.from_network_package is missing"
    return ""


def retrain_missing():
    """Why stages 5-6 cannot run here ('' when they can)."""
    from asteroid_mvae.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    missing = [c for c in ("retrain-data", "retrain") if c not in commands]
    return f"asteroid-mvae {' and '.join(missing)} missing" if missing else ""


def run_demo(exp_dir, *options):
    cmd = [
        "bash",
        str(RUN),
        "--python",
        sys.executable,
        "--tiny",
        "true",
        "--jobs",
        "1",
        "--exp_dir",
        str(exp_dir),
        *options,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run every available stage; return (exp_dir, methods, output, stages run)."""
    exp_dir = tmp_path_factory.mktemp("demo") / "exp"
    no_separators, no_retrain = separators_missing(), retrain_missing()
    methods = BASE_METHODS + ([] if no_separators else MVAE_METHODS)
    if not (no_separators or no_retrain):
        methods.append("fastmvae2_retrained")
    stages = [0, 1, 2, 3] + ([] if no_separators else [4]) + ([] if no_separators or no_retrain else [5, 6])
    stages += [7, 8, 9, 10]
    runs = [[stages[0], stages[0]]]  # contiguous stage ranges
    for stage in stages[1:]:
        if stage == runs[-1][1] + 1:
            runs[-1][1] = stage
        else:
            runs.append([stage, stage])
    output = "".join(
        run_demo(exp_dir, "--stage", str(a), "--stop_stage", str(b), "--methods", " ".join(methods)) for a, b in runs
    )
    return exp_dir, methods, output, stages


def test_every_stage_logs(demo):
    exp_dir, _, output, stages = demo
    logs = sorted(p.name for p in (exp_dir / "logs").glob("stage*.log"))
    assert sorted({int(name[5:].split("_")[0]) for name in logs}) == stages
    for stage in stages:
        assert f"stage {stage} done" in output


def test_data_and_models(demo):
    exp_dir, _, _, _ = demo
    data = exp_dir / "data"
    assert len(pd.read_csv(data / "speakers" / "metadata.csv")) == 3 * 2  # tiny: 3 speakers x 2 signals
    assert [len(pd.read_csv(data / "n2" / s / "metadata.csv")) for s in ("train", "valid", "test")] == [2, 1, 2]
    for model in ("cvae", "chimera"):
        assert (exp_dir / model / "network.pt").is_file()
    assert (exp_dir / "pit" / "convtasnet_n2" / "best_model.pth").is_file()


def test_metrics_table_and_publish(demo):
    exp_dir, methods, output, _ = demo
    metrics = pd.read_csv(exp_dir / "eval" / "n2" / "all_metrics.csv")
    assert sorted(metrics["method"].unique()) == sorted(methods)
    assert len(metrics) == 2 * len(methods)  # every method on both test mixtures
    assert metrics["si_sdr"].notna().all() and metrics["si_sdr_imp"].abs().lt(100).all()
    table = (exp_dir / "results.md").read_text()
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    rows = [r for r in rows if r != "method"]  # one table per group, each with its header
    assert sorted(rows) == sorted(methods)
    assert table.splitlines()[2] in output  # printed at the end
    assert (exp_dir / "eval" / "all" / "final_metrics.png").is_file()
    trained = [
        m
        for m in methods
        if m not in ("auxiva", "ilrma", "pra_auxiva", "pra_ilrma", "pra_fastmnmf2", "oracle_ip", "oracle_ls")
    ]
    for name in trained:
        card = (exp_dir / "publish" / f"{name}_n2" / "README.md").read_text()
        assert f"| {name} | 2 |" in card
        assert (exp_dir / "publish" / f"{name}_n2" / "model.pth").is_file()


def test_rerun_skips_finished_pit_training(demo):
    exp_dir, methods, _, _ = demo
    output = run_demo(exp_dir, "--stage", "7", "--stop_stage", "7", "--methods", " ".join(methods))
    assert "best_model.pth exists; skipping" in output


def test_separator_stage(demo):
    reason = separators_missing()
    if reason:
        pytest.skip(f"stage 4 (MVAE/FastMVAE2 separators) not run: {reason}")
    exp_dir = demo[0]
    assert (exp_dir / "separators" / "fastmvae2_n2.pth").is_file()


def test_retrain_stages(demo):
    reason = separators_missing() or retrain_missing()
    if reason:
        pytest.skip(f"stages 5-6 (encoder re-training) not run: {reason}")
    exp_dir = demo[0]
    assert (exp_dir / "chimera_retrained" / "network.pt").is_file()
    assert (exp_dir / "separators" / "fastmvae2_retrained_n2.pth").is_file()


def test_ceilings_bound_the_blind_methods(demo):
    """The one ordering stable at the CI size: the least-squares oracle beats every blind method
    (the deep methods' order against ILRMA is noise with 2-step networks and 1.5-s signals)."""
    exp_dir = demo[0]
    metrics = pd.read_csv(exp_dir / "eval" / "n2" / "all_metrics.csv")
    means = metrics.groupby("method")["si_sdr_imp"].mean()
    blind = means.drop(["oracle_ip", "oracle_ls"])
    assert means["oracle_ls"] > blind.max(), means.to_dict()


README = REPO / "README.md"
DEMO_PREFIX = "egs/demo/exp/demo/"


def readme_commands():
    """Every ``asteroid-mvae ...`` command line of the README (code blocks and inline code),
    optional ``[...]`` groups and trailing comments dropped."""
    import re
    import shlex

    text = "\n".join(f.read_text() for f in [README, *sorted((README.parent / "docs").glob("*.md"))])
    candidates = re.findall(r"^(?:\.venv/bin/)?asteroid-mvae [^\n]+$", text, flags=re.M)
    candidates += re.findall(r"`(?:\.venv/bin/)?(asteroid-mvae [\w-]+ [^`]+)`", text)  # not bare names
    commands = []
    for line in candidates:
        line = re.sub(r"\[[^\]]*\]", "", line.split("  #")[0].split("   #")[0])
        commands.append(shlex.split(line)[1:])
    return commands


def test_every_readme_command_parses():
    """Each README command names a real subcommand with real options (parsed, not run)."""
    from asteroid_mvae.cli import build_parser

    commands = readme_commands()
    assert len(commands) >= 10
    for argv in commands:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"README command does not parse: asteroid-mvae {' '.join(argv)}")
        assert getattr(args, "func", None), argv


def test_readme_demo_paths_exist_and_its_commands_run_after_the_demo(demo, tmp_path):
    """The README's paths under the demo folder exist after the demo, and its separate command
    and Python snippet on them run (CPU here instead of its cuda:0)."""
    import re

    from asteroid_mvae.cli import main

    exp_dir = demo[0]
    paths = sorted(set(re.findall(re.escape(DEMO_PREFIX) + r"[\w./-]+\w", README.read_text())))
    assert paths
    for path in paths:
        assert (exp_dir / path[len(DEMO_PREFIX) :]).exists(), path
    mixture = sorted((exp_dir / "data" / "n2" / "test" / "mix").glob("*.wav"))[0]
    separator = exp_dir / "separators" / "fastmvae2_n2.pth"
    if separator.exists():
        assert main(["separate", str(mixture), "--model", str(separator), "--out-dir", str(tmp_path / "sep")]) == 0
        assert len(list((tmp_path / "sep").glob("*.wav"))) == 2
    from asteroid_mvae.models import FastMVAE2

    fast = FastMVAE2.from_network_package(str(exp_dir / "chimera" / "network.pt"), n_src=3, n_iter=60)
    assert fast.n_src == 3


def test_logs_carry_no_progress_bars(demo):
    """A log file gets progress lines, never a bar's carriage returns."""
    exp_dir = demo[0]
    for log_file in (exp_dir / "logs").glob("*.log"):
        text = log_file.read_text()
        assert "\r" not in text, log_file.name
        for noise in ("Tip:", "GPU available", "TPU available", "Don't forget to share", "LeafSpec"):
            assert noise not in text, (log_file.name, noise)
    assert any("(100%)" in f.read_text() for f in (exp_dir / "logs").glob("stage*train*.log"))  # progress lines
