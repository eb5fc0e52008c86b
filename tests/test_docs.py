"""The docs hold no copied tables, no dead relative links and no internal issue numbers.

``docs/results.md`` must be exactly what ``docs/make_results.py`` writes from the results
folders; README.md stays short; every relative link of README.md, docs/*.md and the recipes'
READMEs points to a file of the repository; the VCC2018 studies moved to egs/vcc2018/local
still start (``--help``).
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("egs/*/README.md"))]


def make_results():
    spec = importlib.util.spec_from_file_location("make_results", ROOT / "docs" / "make_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_page_is_generated():
    assert (ROOT / "docs" / "results.md").read_text() == make_results().render(), (
        "docs/results.md is stale: run python docs/make_results.py"
    )


def test_results_page_covers_every_results_folder(tmp_path):
    module = make_results()
    folder = tmp_path / "egs" / "toy" / "results" / "study"
    folder.mkdir(parents=True)
    (folder / "table.md").write_text("| method | SI-SDRi |\n|---|---|\n| ilrma | 1.00 |\n")
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    text = module.render(tmp_path)
    assert "## egs/toy/results/study" in text and "| ilrma | 1.00 |" in text
    assert "[`egs/toy/results/study/`](../egs/toy/results/study/)" in text


def test_check_mode_flags_a_stale_page(tmp_path, monkeypatch):
    module = make_results()
    monkeypatch.setattr(module, "OUT", tmp_path / "results.md")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    (tmp_path / "results.md").write_text("# Results\n\nedited by hand\n")
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0 and module.main(["--check"]) == 0


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 260, f"README.md has {len(lines)} lines: move details to docs/"


def relative_links(page: Path):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold no links
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        yield target.split("#")[0]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_exist(page):
    missing = [t for t in relative_links(page) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)}: dead links {missing}"


def test_link_checker_sees_dead_links(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [gone](nowhere.md#x) ![fig](img/none.png) [web](https://example.org)\n")
    assert [t for t in relative_links(page) if not (tmp_path / t).exists()] == ["nowhere.md", "img/none.png"]


def test_no_internal_issue_numbers():
    files = (
        PAGES + sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "egs" / "vcc2018" / "local").glob("*.py"))
    )
    found = [
        f"{f.relative_to(ROOT)}: {m.group(0)}" for f in files for m in re.finditer(r"\b[Ii]ssues? \d+", f.read_text())
    ]
    assert not found, found


def test_vcc2018_studies_start():
    """Each study of egs/vcc2018/local parses its arguments (imports of siblings included); the
    folder's helper modules (no ``__main__``) are imported by the studies that use them."""
    files = sorted((ROOT / "egs" / "vcc2018" / "local").glob("*.py"))
    scripts = [f for f in files if 'if __name__ == "__main__":' in f.read_text()]
    assert [f.name for f in files if f not in scripts] == ["train_study.py"]
    code = (
        "import runpy, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "for path in sys.argv[2:]:\n"
        "    sys.argv = [path, '--help']\n"
        "    try:\n"
        "        runpy.run_path(path, run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (path, e.code)\n"
        "    else:\n"
        "        raise AssertionError(path + ': --help did not exit')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(scripts[0].parent), *map(str, scripts)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("usage:") == len(scripts) >= 10
