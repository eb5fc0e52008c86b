"""egs/vcc2018/run.sh calls its studies with arguments they accept, stage by stage.

The interpreter given to ``--python`` is a stub: for a ``local/*.py`` study it checks that the
study's ``parse_args`` accepts the arguments (nothing runs), for everything else it records the
call. The files later stages copy are made beforehand, so the whole chain runs in seconds.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "egs" / "vcc2018" / "run.sh"
STUB = """#!/usr/bin/env bash
echo "python $*" >> "$STUB_LOG"
case "$1" in
  egs/vcc2018/local/*.py)
    exec "$REAL_PYTHON" -c '
import os, runpy, sys
path = sys.argv[1]
sys.path.insert(0, os.path.dirname(path))
runpy.run_path(path)["parse_args"](sys.argv[2:])
' "$@" ;;
  -c) exec "$REAL_PYTHON" "$@" ;;
  *) exit 0 ;;
esac
"""


@pytest.fixture
def stub(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"
    python.write_text(STUB)
    cli = bin_dir / "asteroid-mvae"
    cli.write_text('#!/usr/bin/env bash\necho "asteroid-mvae $*" >> "$STUB_LOG"\n')
    for exe in (python, cli):
        exe.chmod(0o755)
    exp, results = tmp_path / "exp", tmp_path / "results"
    for made in (
        "zoo/iterations/iterations.md",
        "zoo/variance_step/variance_step.md",
        "retrain_vcc2018/compare/claims.md",
        "zoo_rebuild/.keep",
        "zoo_authors/cvae/network_step2100.pt",
        "zoo_authors/chimera/network_step1700.pt",
        "zoo_authors/chimera/network_step3100.pt",
        "zoo_authors/chimera/network_step4000.pt",
        "zoo_authors/chimera_lr1e-4/network_step800.pt",
        "zoo_authors/chimera_lr1e-4/network_step1100.pt",
        "zoo_authors/chimera_lr1e-4/network_step2400.pt",
        "zoo_authors_closed/cvae/network_step1806.pt",
        "zoo_authors_closed/cvae/network_step4386.pt",
        "zoo_postfilter/mix_train_2src/metadata.csv",
        "zoo_postfilter/eval/rt300_n2/all_metrics.csv",
        "zoo_authors/cvae/network.pt",
        "zoo_authors/cvae/network_step4700.pt",
    ):
        (exp / made).parent.mkdir(parents=True, exist_ok=True)
        (exp / made).write_text("made by the test\n")
    (exp / "zoo_refine_closed" / "refine").mkdir(parents=True)
    (exp / "zoo_refine_closed" / "refine" / "chosen.json").write_text(json.dumps({"refine_lr": 0.01}))
    for folder in ("zoo_vcc2018", "zoo_open"):
        (results / folder).mkdir(parents=True)
    env = {**os.environ, "STUB_LOG": str(tmp_path / "calls.log"), "REAL_PYTHON": sys.executable}
    return python, exp, results, env, tmp_path / "calls.log"


def run(stub, *options):
    python, exp, results, env, _ = stub
    return subprocess.run(
        [
            "bash",
            str(RUN),
            "--python",
            str(python),
            "--exp_dir",
            str(exp),
            "--results",
            str(results),
            "--corpus",
            "/data/vcc2018",
            *options,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_every_stage_calls_its_studies_with_valid_arguments(stub):
    result = run(stub)
    assert result.returncode == 0, result.stderr[-3000:]
    calls = stub[4].read_text().splitlines()
    scripts = {c.split()[1] for c in calls if c.split()[1].startswith("egs/vcc2018/local/")}
    studies = (
        "zoo_vcc2018",
        "zoo_iterations",
        "zoo_variance_step",
        "zoo_retrain_scale",
        "zoo_compare",
        "zoo_refine",
        "gass_vcc2018",
        "frame_prior_rooms",
        "unsupervised_vcc2018",
        "retrain_vcc2018",
        "dereverb_vcc2018",
        "arrays_vcc2018",
        "zoo_ceilings",
        "zoo_postfilter_variants",
        "zoo_fallback_choice",
        "zoo_retrain_fit",
        "zoo_mvae_protocol",
    )
    assert scripts >= {f"egs/vcc2018/local/{name}.py" for name in studies}
    assert any(c.startswith("asteroid-mvae publish ") for c in calls)
    for study in ("arrays_vcc2018.py", "dereverb_vcc2018.py"):  # with the authors'-scale CVAE and ChimeraACVAE
        for separator in ("mvae", "fastmvae2"):
            assert any(study in c and f"--separators {separator}" in c for c in calls), (study, separator)
    protocol = [c for c in calls if "zoo_retrain_scale.py" in c and "--network" in c]  # the authors' re-training scale
    assert len(protocol) == 4 and all("--train-rt60 0.2 0.4" in c and "--batch-size 1" in c for c in protocol)
    tags = {"_s3100_lr1e-5", "_s3100_lr1e-4", "_s4000_lr1e-5", "_c1e4_s1100_lr1e-5"}
    assert {c.split("--tag ")[1].split()[0] for c in protocol} == tags
    assert (
        "chimera_lr1e-4/network_step1100.pt" in protocol[3]
        and "--zoo " + str(stub[1] / "zoo_postfilter") in protocol[3]
    )
    assert all("--open-test-speakers VCC2SF1" in c for c in protocol)  # the zoo's speaker-disjoint split
    fit = [c for c in calls if "zoo_retrain_fit.py" in c]  # the re-trained encoder's fit, after its re-training
    assert len(fit) == 1 and calls.index(protocol[3]) < calls.index(fit[0])
    assert "_c1e4_s1100_lr1e-5/network.pt" in fit[0]
    assert any("zoo_compare.py" in c and "--pairs" in c for c in calls)
    assert "python docs/make_results.py" in calls
    assert "--corpus /data/vcc2018" in next(c for c in calls if "gass_vcc2018.py" in c)
    postfilter = [c for c in calls if "--out " + str(stub[1] / "zoo_postfilter") in c]  # MWF at M = N
    assert len(postfilter) == 11 and all("--mwf" in c and "--open-test-speakers VCC2SF1" in c for c in postfilter)
    fast_rate = [c for c in calls if "chimera_lr1e-4" in c]  # the 1e-4 distillation, then FastMVAE2 with a snapshot
    assert "--chimera-lr 1e-4" in fast_rate[0] and "--chimera-dir chimera_lr1e-4" in fast_rate[0]
    assert "--chimera-tag _c1e4_s800" in fast_rate[1] and postfilter[0] == fast_rate[1]
    assert "--chimera-tag _c1e4_s1100" in fast_rate[2] and postfilter[1] == fast_rate[2]
    assert "--chimera-tag _c1e4_s2400" in fast_rate[3] and postfilter[2] == fast_rate[3]
    postfilter = postfilter[3:]
    assert "--eval-part train" in postfilter[0] and "--eval-part" not in postfilter[1]  # chosen before tested
    assert "network_step2100.pt" in postfilter[0] and "network_step4700.pt --mvae-tag _s5lr02_s4700" in postfilter[2]
    assert "network.pt --mvae-tag _s5lr02_final" in postfilter[3]
    assert "--mvae-last 15 20" in postfilter[4] and "--eval-part train" in postfilter[4]  # more MVAE iterations
    protocol_study = [c for c in calls if "zoo_mvae_protocol.py" in c]  # more of MVAE's fit, training mixtures
    assert len(protocol_study) == 1 and "zoo_postfilter" in protocol_study[0] and "cvae/network.pt" in protocol_study[0]
    closed = [c for c in calls if "--out " + str(stub[1] / "zoo_authors_closed") + " " in c]
    assert any("network_step1806.pt" in c for c in closed) and not any("--train-corpus" in c for c in closed)
    fallback = [c for c in calls if "--fallback" in c]  # MVAE's envelope fallback, both zoos, train then test
    assert len(fallback) == 4 and all("--mwf" in c for c in fallback)
    assert "--eval-part train" in fallback[0] and "--eval-part" not in fallback[2]
    assert "network_step4386.pt" in fallback[0] and "zoo_postfilter" in fallback[1]
    choice = [c for c in calls if "zoo_fallback_choice.py" in c]  # the statistic chosen on both zoos first
    assert len(choice) == 2 and calls.index(choice[1]) < calls.index(fallback[0])
    assert "zoo_authors_closed" in choice[0] and "zoo_postfilter" in choice[1]
    chosen = json.loads((stub[1] / "zoo_refine_open" / "refine" / "chosen.json").read_text())
    assert chosen["refine_lr"] == 0.01 and "closed" in chosen["chosen_on"]
    assert (stub[2] / "zoo_vcc2018" / "iterations.md").exists()


def test_a_stage_range_runs_only_those_stages(stub):
    result = run(stub, "--stage", "9", "--stop_stage", "9")
    assert result.returncode == 0, result.stderr
    calls = stub[4].read_text().splitlines()
    assert len(calls) == 5 and all("dereverb_vcc2018.py" in call for call in calls)


def test_bad_options_are_one_line_errors(stub):
    for options, message in (
        (["--stage", "4", "--stop_stage", "2"], "nothing to run"),
        (["--bogus", "1"], "unknown option"),
    ):
        result = run(stub, *options)
        assert result.returncode != 0 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_zoo_ceilings_refuses_missing_inputs_in_one_line(tmp_path):
    script = ROOT / "egs" / "vcc2018" / "local" / "zoo_ceilings.py"
    for options, missing in (([], "mix_test_2src"), (["--report-only"], "all_metrics.csv")):
        result = subprocess.run(
            [sys.executable, str(script), "--zoo", str(tmp_path), *options], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2 and missing in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ceilings").exists()


@pytest.mark.parametrize(
    "script, inputs, output, missing",
    [
        ("zoo_postfilter_variants", ["--zoo", "", "--cvae-package", "c.pt"], ["--results", "res"], "mix_train_2src"),
        ("zoo_fallback_choice", ["--zoo", "", "--cvae-package", "c.pt"], ["--table", "t.md"], "mix_train_2src"),
        ("zoo_mvae_protocol", ["--zoo", "", "--cvae-package", "c.pt"], ["--table", "t.md"], "mix_train_2src"),
        ("zoo_retrain_fit", ["--data", "", "--retrained", "n.pt"], ["--table", "t.md"], "index.json is missing"),
    ],
)
def test_training_mixture_studies_refuse_missing_inputs_in_one_line(tmp_path, script, inputs, output, missing):
    """Each study refuses missing inputs in one line, before writing its output."""
    paths = [str(tmp_path / a) if i % 2 else a for i, a in enumerate(inputs + output)]  # every value is a path
    command = [sys.executable, str(ROOT / "egs" / "vcc2018" / "local" / f"{script}.py"), *paths]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and missing in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / output[1]).exists()


def test_postfilter_variants_with_the_outputs_own_power_as_model_are_the_plain_post_filter():
    """``model_b1`` with ``r = |s|^2`` is the plain post-filter; sharper masks differ from it."""
    import runpy

    import torch

    variants = runpy.run_path(str(ROOT / "egs" / "vcc2018" / "local" / "zoo_postfilter_variants.py"))["variants"]
    g = torch.Generator().manual_seed(0)
    X = torch.randn(1, 2, 5, 40, dtype=torch.complex128, generator=g)
    S = torch.randn(1, 2, 5, 40, dtype=torch.complex128, generator=g)
    out = variants(X, S, S.abs() ** 2)
    assert torch.allclose(out["model_b1"], out["mwf"]) and torch.equal(out["none"], S)
    assert not torch.allclose(out["mwf_a2"], out["mwf"]) and set(out) >= {"mwf_it2", "mwf_it3", "model_b0.5"}


def test_retrain_fit_divergence_ignores_each_frequency_scale_and_the_table_averages():
    import runpy

    import torch

    study = runpy.run_path(str(ROOT / "egs" / "vcc2018" / "local" / "zoo_retrain_fit.py"))
    g = torch.Generator().manual_seed(0)
    power = torch.rand(2, 6, 50, generator=g, dtype=torch.float64) + 0.1
    tilt = torch.linspace(-3, 3, 6, dtype=torch.float64)[None, :, None]
    divergence = study["frequency_scaled_is"]
    assert torch.allclose(divergence(power, torch.log(power) + tilt), torch.zeros(2, dtype=torch.float64))
    other = torch.rand(2, 6, 50, generator=g, dtype=torch.float64) + 0.1
    assert (divergence(power, torch.log(other)) > 0.01).all()
    keys = ("base/self", "retrained/self", "base/true", "retrained/true", "output/true")
    cache = {
        "a": {"n_src": 2, **{k: [[1.0, 3.0]] for k in keys}},
        "b": {"n_src": 2, **{k: [[2.0, 4.0]] for k in keys}},
    }
    assert "| 2 | 2 | 0 | 2.500 | 2.500 | 2.500 | 2.500 | 2.500 |" in study["table"](cache, "n.pt")


def test_mvae_protocol_frequency_gain_ignores_each_frequency_offset_and_the_table_pairs():
    import runpy

    import torch

    study = runpy.run_path(str(ROOT / "egs" / "vcc2018" / "local" / "zoo_mvae_protocol.py"))
    g = torch.Generator().manual_seed(0)
    power = torch.rand(2, 5, 40, generator=g, dtype=torch.float64) + 0.1
    h = torch.randn(2, 5, 40, generator=g, dtype=torch.float64)
    offset = torch.linspace(-2, 2, 5, dtype=torch.float64)[None, :, None]
    nll = study["frequency_gain_nll"]
    assert torch.allclose(nll(power, h), nll(power, h + offset))  # a per-frequency gain is free
    assert torch.allclose(nll(power, torch.log(power)), torch.log(power).sum() + power.numel())  # its minimum
    cache = {}
    for i, (ilrma, base, init) in enumerate(((3.0, 4.0, 5.0), (2.0, 4.0, 3.0), (1.0, 2.0, 4.0))):
        for name, value in (("ilrma", ilrma), ("last10", base), ("init50", init), ("prior", base)):
            cache[f"n2/{i}/{name}"] = [value, value + 1.0]
        cache[f"n2/{i}/frequency_gain"] = [base, base + 1.0]
    lines = {line.split(" | ")[0]: line for line in study["table"](cache, [2], 3, "c.pt").splitlines()}
    assert "| 2 | +2.00 ± 0.58 | +0.67 ± 0.88 | 2/3 | +3.00 ± 0.58 | +0.67 ± 0.88 |" in lines["| init50"]
    assert "| +1.33 ± 0.33 | +0.00 ± 0.00 | 0/3 |" in lines["| prior"]


def test_fallback_choice_statistics_rank_a_separation_above_a_mixture():
    """Every candidate prefers (is lower for) truly separated outputs than for mixed ones; the
    chosen statistic is the library's; the table's choices follow the statistic."""
    import runpy

    import torch

    from asteroid_mvae.separation.fallback import envelope_correlation

    study = runpy.run_path(str(ROOT / "egs" / "vcc2018" / "local" / "zoo_fallback_choice.py"))
    g = torch.Generator().manual_seed(0)
    F, T = 33, 200
    gate = torch.zeros(2, 1, T, dtype=torch.float64)
    gate[0, :, : T // 2], gate[1, :, T // 2 :] = 1.0, 1.0  # the talkers take turns
    envelope = gate * 3 + 0.05 + torch.rand(2, F, T, dtype=torch.float64, generator=g)
    S = torch.randn(2, F, T, dtype=torch.complex128, generator=g) * envelope.sqrt()  # [N, F, T]
    A = torch.tensor([[1.0, 0.8], [0.7, 1.0]], dtype=torch.complex128)
    X = torch.einsum("mn,nft->mft", A, S)[None]  # [1, M, F, T]
    separated = study["correlations"](S[None])
    mixed = study["correlations"](X)
    assert all(separated[k] < mixed[k] for k in separated), (separated, mixed)
    assert separated["broadband_env_log"] == float(envelope_correlation(S[None])[0])
    W_sep = torch.linalg.inv(A).expand(1, F, 2, 2)
    W_mix = torch.eye(2, dtype=torch.complex128).expand(1, F, 2, 2)
    for model in ("rank1", "nmf2"):
        assert study["refitted_objective"](W_sep, X, model) < study["refitted_objective"](W_mix, X, model)
    row = {"si_sdri": 0.0, "si_sdri_mwf": 0.0, "stat": 0.0}
    cache = {}
    for i, (start, mvae, stat_start) in enumerate(((5.0, 1.0, 0.1), (2.0, 6.0, 0.9), (3.0, 4.0, 0.2))):
        cache[f"n2/{i}"] = {
            "ilrma": dict(row, si_sdri=3.0),
            "start": dict(row, si_sdri=start, stat=stat_start),
            "mvae": dict(row, si_sdri=mvae, stat=0.5),
        }
    lines = {line.split(" | ")[0]: line for line in study["table"](cache, [2], 3, "c.pt").splitlines()}
    assert "| 2/3 | 2/3 | +1.67 ± 0.88 |" in lines["| stat"]  # keeps the start on 0 and 2: right on 0 and 1
    assert "| 1/3 | 3/3 | +2.00 ± 0.58 |" in lines["| oracle"]


def test_zoo_refuses_a_named_package_that_is_missing(tmp_path):
    script = ROOT / "egs" / "vcc2018" / "local" / "zoo_vcc2018.py"
    for option in ("--chimera-package", "--cvae-package"):
        command = [sys.executable, str(script), "--out", str(tmp_path / "zoo"), option, str(tmp_path / "none.pt")]
        result = subprocess.run(command + ["--stages", "report"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and f"none.pt is missing ({option})" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "zoo").exists()


def test_zoo_compare_pairs_gives_each_step_against_the_one_before(tmp_path):
    folder = tmp_path / "eval" / "rt300_n2"
    folder.mkdir(parents=True)
    rows = ["method,mixture_id,si_sdr_imp,j_increase_fraction"]
    for i, gain in enumerate((1.0, 2.0, 3.0)):
        rows += [f"old,m{i},5.0,0.5", f"new,m{i},{5.0 + gain},0.25"]
    (folder / "all_metrics.csv").write_text("\n".join(rows) + "\n")
    script = ROOT / "egs" / "vcc2018" / "local" / "zoo_compare.py"
    result = subprocess.run(
        [sys.executable, str(script), "--a", str(tmp_path), "--pairs", "new:old"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "| new - old | 2 | 3 | +2.00 ± 0.58 | 3/3 | 0.250 / 0.500 |" in result.stdout
    for options, message in ((["--a", str(tmp_path / "none"), "--pairs", "a:b"], "holds no"), (["--a", "x"], "either")):
        result = subprocess.run([sys.executable, str(script), *options], capture_output=True, text=True)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_zoo_retrain_scale_makes_its_mixtures_with_the_zoos_split(monkeypatch):
    """The re-training mixtures come from the zoo's own training speakers: the study passes the
    zoo's corpus and speaker options on (without them a speaker-open zoo's test speakers would
    make its re-training mixtures)."""
    monkeypatch.syspath_prepend(str(ROOT / "egs" / "vcc2018" / "local"))
    import zoo_retrain_scale

    args = zoo_retrain_scale.parse_args(
        ["--zoo", "exp/z", "--sizes", "200", "--train-corpus", "/libri", "--open-test-speakers", "A", "B"]
    )
    assert args.sizes == [200] and args.zoo_args.out == "exp/z"
    assert args.zoo_args.train_corpus == "/libri" and args.zoo_args.open_test_speakers == ["A", "B"]
    with pytest.raises(SystemExit):
        zoo_retrain_scale.parse_args(["--zoo", "exp/z", "--bogus"])
