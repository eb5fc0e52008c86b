"""The recipe shell scripts: syntax, option parsing, help, symlinks (fast, no python steps)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EGS = REPO / "egs"
SCRIPTS = sorted(EGS.rglob("*.sh"))
RECIPES = sorted(p.parent for p in EGS.glob("*/run.sh"))


def bash(*args, cwd=None, **kwargs):
    return subprocess.run(["bash", *args], capture_output=True, text=True, cwd=cwd, timeout=60, **kwargs)


def test_recipes_present():
    assert {p.name for p in RECIPES} >= {"demo", "wsj0_jvs_reverb", "folder_reverb"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(EGS)))
def test_syntax(script):
    done = bash("-n", str(script))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_help_and_unknown_option(recipe):
    done = bash(str(recipe / "run.sh"), "--help")
    assert done.returncode == 0
    assert "Stages:" in done.stdout and "--stop_stage" in done.stdout
    assert not done.stdout.startswith("!")  # the shebang is not part of the help
    bad = bash(str(recipe / "run.sh"), "--no_such_option", "1")
    assert bad.returncode == 1 and "unknown option --no_such_option" in bad.stderr
    if "\ntiny=" in (recipe / "run.sh").read_text():  # the chain recipes' quick check (not egs/vcc2018's studies)
        bad_bool = bash(str(recipe / "run.sh"), "--tiny", "maybe")
        assert bad_bool.returncode == 1 and "takes true or false" in bad_bool.stderr


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_utils_is_a_tracked_symlink(recipe):
    utils = recipe / "utils"
    assert utils.is_symlink() and utils.resolve() == (EGS / "utils").resolve()
    listed = subprocess.run(
        ["git", "ls-files", "-s", str(utils.relative_to(REPO))], cwd=REPO, capture_output=True, text=True
    ).stdout
    if listed:  # committed: git stores it as a symlink (mode 120000), so a fresh clone has it
        assert listed.startswith("120000")


def test_parse_options_sets_defined_variables(tmp_path):
    script = tmp_path / "s.sh"
    script.write_text(
        "#!/usr/bin/env bash\n# Header help line.\n#   --a (1)\n\nset -u\na=1\nlong_name=x\nflag=false\n"
        f". {EGS / 'utils' / 'parse_options.sh'}\n"
        'echo "a=$a long_name=$long_name flag=$flag rest=$*"\n'
    )
    done = bash(str(script), "--a", "2 3", "--long-name=y", "--flag", "true", "pos1", "pos2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "a=2 3 long_name=y flag=true rest=pos1 pos2"
    help_text = bash(str(script), "--help").stdout
    assert help_text == "Header help line.\n  --a (1)\n"
    missing = bash(str(script), "--a")
    assert missing.returncode == 1 and "needs a value" in missing.stderr


def test_bad_stage_and_python_are_reported(tmp_path):
    run = EGS / "demo" / "run.sh"
    done = bash(str(run), "--python", str(tmp_path / "nope"), "--exp_dir", str(tmp_path / "exp"))
    assert done.returncode == 1 and "python interpreter" in done.stderr


def test_empty_stage_range_is_an_error(tmp_path):
    done = bash(
        str(EGS / "demo" / "run.sh"),
        "--python",
        sys.executable,
        "--exp_dir",
        str(tmp_path / "exp"),
        "--stage",
        "3",
        "--stop_stage",
        "2",
    )
    assert done.returncode == 1 and "empty stage range" in done.stderr


def test_set_overrides_configuration_keys_and_tag_names_the_experiment(tmp_path):
    import yaml

    done = bash(
        str(EGS / "demo" / "run.sh"),
        "--python",
        sys.executable,
        "--exp_dir",
        str(tmp_path / "exp"),
        "--tag",
        "long",
        "--set",
        "train.cvae.trainer.max_steps=3000",
        "--set",
        "eval.n_iter=7",
        "--stage",
        "99",
        "--stop_stage",
        "99",
    )
    assert done.returncode == 0, done.stderr
    conf = yaml.safe_load((tmp_path / "exp_long" / "conf.yml").read_text())
    assert conf["train"]["cvae"]["trainer"]["max_steps"] == 3000 and conf["eval"]["n_iter"] == 7
    assert "tiny" not in conf and not (tmp_path / "exp").exists()
    bad = bash(
        str(EGS / "demo" / "run.sh"),
        "--python",
        sys.executable,
        "--exp_dir",
        str(tmp_path / "x"),
        "--set",
        "novalue",
        "--stage",
        "99",
        "--stop_stage",
        "99",
    )
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr
    typo = bash(
        str(EGS / "demo" / "run.sh"),
        "--python",
        sys.executable,
        "--exp_dir",
        str(tmp_path / "y"),
        "--set",
        "eval.n_iterr=7",
        "--stage",
        "99",
        "--stop_stage",
        "99",
    )
    assert typo.returncode != 0 and "Traceback" not in typo.stderr
    assert "--set eval.n_iterr: unknown key 'n_iterr' in eval; accepted keys: methods, metrics" in typo.stderr


def test_an_interpreter_without_the_package_is_one_clear_line(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/usr/bin/env bash\nexit 1\n")  # any interpreter that cannot import asteroid_mvae
    fake.chmod(0o755)
    done = bash(str(EGS / "demo" / "run.sh"), "--python", str(fake), "--exp_dir", str(tmp_path / "exp"))
    assert done.returncode == 1 and "cannot import asteroid_mvae" in done.stderr and "Traceback" not in done.stderr
