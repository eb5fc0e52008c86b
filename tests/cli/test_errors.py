"""Usage errors of every subcommand: one line naming the argument, exit code 2, no traceback."""

import pytest

from asteroid_mvae.cli import main


@pytest.mark.parametrize(
    "argv, names",
    [
        (["simulate", "--out", "x", "--max-order", "nan"], "--max-order"),
        (["simulate", "--out", "x", "--n-mixtures", "1e9"], "--n-mixtures"),
        (["separate", "a.wav", "--n-iter", "many"], "--n-iter"),
        (["train", "--model", "cvae", "--out", "x", "--no-such-option"], "--no-such-option"),
        (["train"], "--model"),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(capsys, argv, names):
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "error:" in err[0] and names in err[0] and "--help" in err[0], err


def test_help_exits_0(capsys):
    assert main(["simulate", "--help"]) == 0
    assert "usage:" in capsys.readouterr().out
