"""The command line's dispatch: one table of commands, and a command imports only its module."""

import ast
import subprocess
import sys
from pathlib import Path

from asteroid_mvae.cli import COMMANDS, build_parser, command_modules

REPO = Path(__file__).resolve().parents[2]


def _choices(parser):
    return parser._subparsers._group_actions[0].choices


def test_the_table_names_every_command_of_every_module():
    found = {}
    for module in command_modules():
        for command in _choices(build_parser(module_only := next(c for c, m in COMMANDS.items() if m == module))):
            found[command] = module
        assert module_only in found
    assert found == COMMANDS
    assert set(_choices(build_parser())) == set(COMMANDS)


def test_a_command_imports_only_its_own_module(tmp_path):
    """Beyond the package itself, ``recipe conf`` imports its own modules only (no other command,
    no schema without --set)."""
    conf = tmp_path / "conf.yml"
    conf.write_text("n_src: [2, 3]\n")
    code = (
        "import sys\nimport asteroid_mvae.cli\nbefore = set(sys.modules)\nfrom asteroid_mvae.cli import main\n"
        f"assert main(['recipe', 'conf', '--conf', {str(conf)!r}, '--get', 'n_src']) == 0\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith(('asteroid_mvae', 'torch', 'pytorch'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "2 3"
    new = ast.literal_eval(lines[1])  # a printed list of module names
    assert "asteroid_mvae.cli.recipe" in new
    assert not [m for m in new if m.startswith("asteroid_mvae.cli.") and m != "asteroid_mvae.cli.recipe"]
    assert all(m.startswith(("asteroid_mvae.cli.recipe", "asteroid_mvae.recipes")) for m in new), new
    assert "asteroid_mvae.recipes.schema" not in new


def test_recipe_steps_and_report_are_commands():
    recipe = _choices(build_parser("recipe"))["recipe"]
    assert set(_choices(recipe)) == {"conf", "prepare", "simulate", "train", "build-separators", "collect", "publish"}
    args = build_parser("report").parse_args(["report", "--out", "x", "--num-shards", "2"])
    assert args.num_shards == 2 and args.func.__name__ == "run_report"
