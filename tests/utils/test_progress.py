"""Progress in log files: one plain line per 10 %, no carriage returns; a bar only on a terminal."""

import io
import logging

from asteroid_mvae.utils import progress as progress_module
from asteroid_mvae.utils.progress import LineProgress, on_terminal, progress


def test_line_progress_logs_each_tenth_once(caplog):
    with caplog.at_level(logging.INFO, logger="asteroid_mvae.progress"):
        bar = LineProgress(total=25, desc="simulate", unit="item")
        for _ in range(25):
            bar.update(1)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10 and lines[-1].startswith("simulate: 25/25 item (100%)")
    assert all("\r" not in line for line in lines)


def test_resumed_progress_starts_from_what_is_done(caplog):
    with caplog.at_level(logging.INFO, logger="asteroid_mvae.progress"):
        bar = LineProgress(total=10, desc="x", initial=8)
        bar.update(1)
        bar.update(1)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["x: 9/10 item", "x: 10/10 item"]


def test_progress_is_a_bar_only_on_a_terminal(monkeypatch):
    assert not on_terminal(io.StringIO())
    monkeypatch.setattr(progress_module, "on_terminal", lambda stream=None: False)
    assert isinstance(progress(5, "x"), LineProgress)
    monkeypatch.setattr(progress_module, "on_terminal", lambda stream=None: True)
    assert not isinstance(progress(5, "x"), LineProgress)
    assert not isinstance(progress(5, "x", enabled=False), LineProgress)


def test_simulate_cli_writes_progress_lines_not_bars(tmp_path, capfd):
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from asteroid_mvae.cli import main; sys.exit(main())",
            "simulate",
            "--out",
            str(tmp_path / "sim"),
            "--n-mixtures",
            "3",
            "--duration",
            "0.5",
            "--builtin-speakers",
            "2",
            "--builtin-utterances",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "\r" not in out.stderr
    assert "simulate 2-source mixtures: 3/3 item (100%)" in out.stderr
