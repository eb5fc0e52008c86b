"""Iteration tracking, the evaluation loop end to end (outputs, resume, shards) and the report."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from asteroid_mvae.evaluation import (
    IterationTracker,
    evaluate,
    j_increase_fraction,
    make_report,
    merge_shards,
    normalized_objective,
)
from asteroid_mvae.evaluation.toy import ToyMixtureDataset
from asteroid_mvae.separation import LaplaceIVA, StftConfig, separate, stft

CFG = StftConfig(512, 256)


@pytest.fixture(scope="module")
def dataset():
    return ToyMixtureDataset(n_mixtures=2, n_src=2, seconds=1.5, seed=3)


def test_j_increase_fraction_and_normalisation():
    assert j_increase_fraction([5.0, 4.0, 4.5, 3.0, 3.0]) == pytest.approx(0.25)
    assert j_increase_fraction([1e8, 1e8 + 1e-3]) == 0.0  # within the relative tolerance
    assert j_increase_fraction([2.0]) is None
    np.testing.assert_allclose(normalized_objective([10.0, 4.0, 2.0, 3.0]), [1.0, 0.25, 0.0, 0.125])


def test_tracker_follows_the_engine(dataset):
    mixture, references = dataset[0]
    tracker = IterationTracker(mixture[0].numpy(), references.numpy(), CFG)
    result = separate(stft(mixture[None], CFG), LaplaceIVA(), n_iter=15, callback=tracker)
    curve = tracker.curve()
    assert curve["iterations"] == list(range(16))
    np.testing.assert_allclose(curve["objective"], result.objective[:, 0].numpy(), rtol=1e-9)
    assert curve["si_sdr_imp"][-1] > curve["si_sdr_imp"][0] + 3  # AuxIVA separates this room
    assert curve["j_increase_fraction"] == j_increase_fraction(result.objective[:, 0].tolist())
    assert tracker.overhead_s > 0


class Oracle(torch.nn.Module):
    """A 'separator' that returns the dataset's references in reverse order (single channel)."""

    single_channel = True

    def __init__(self, dataset):
        super().__init__()
        self.lookup = {float(m[0, :50].sum()): r for m, r in dataset}

    def forward_wav(self, wav):
        return self.lookup[float(wav[0, :50].sum())].flip(0)[None]


def test_evaluate_writes_everything_resumes_and_shards(dataset, tmp_path):
    out = tmp_path / "eval"
    separators = {"auxiva": "auxiva", "oracle": Oracle(dataset)}
    kwargs = dict(
        metrics_list=["si_sdr"], stft_config=CFG, n_examples=1, progress=False, separator_options={"n_iter": 10}
    )
    csv_path = evaluate(separators, dataset, out, **kwargs)
    df = pd.read_csv(csv_path)
    assert sorted(zip(df.method, df.mixture_id)) == [
        ("auxiva", "mix00000"),
        ("auxiva", "mix00001"),
        ("oracle", "mix00000"),
        ("oracle", "mix00001"),
    ]
    oracle, auxiva = df[df.method == "oracle"], df[df.method == "auxiva"]
    assert (oracle.si_sdr > 100).all()  # permutation solved: reversed references are perfect
    assert (auxiva.si_sdr_imp > 2).all() and (auxiva.rtf > 0).all() and (auxiva.n_iter == 10).all()
    assert oracle.j_increase_fraction.isna().all() and auxiva.j_increase_fraction.notna().all()
    assert (out / "examples" / "mix00000" / "auxiva_s1.wav").exists()
    assert not (out / "examples" / "mix00001").exists()

    # resume: a rerun computes nothing (a separator that would fail proves it is never called)
    class Broken(Oracle):
        def forward_wav(self, wav):
            raise AssertionError("finished pairs must be skipped")

    before = csv_path.read_text()
    evaluate({"auxiva": "auxiva", "oracle": Broken(dataset)}, dataset, out, **kwargs)
    assert csv_path.read_text() == before

    paths = make_report(out)
    for key in ("final_metrics", "curves", "table", "final_plot", "si_sdr_plot", "objective_plot"):
        assert paths[key].exists() and paths[key].stat().st_size > 0, key
    final = json.loads(paths["final_metrics"].read_text())
    assert final["auxiva"]["N=2"]["si_sdr_imp"]["mean"] == pytest.approx(auxiva.si_sdr_imp.mean())
    curves = json.loads(paths["curves"].read_text())
    assert len(curves["mean"]["auxiva"]["N=2"]["si_sdr_imp"]) == 11
    assert "| auxiva | 2 | 2 |" in paths["table"].read_text()

    # two shards (as two torchrun ranks would) merge into the same rows
    sharded = tmp_path / "sharded"
    for rank in range(2):
        evaluate({"oracle": Oracle(dataset)}, dataset, sharded, shard_index=rank, num_shards=2, **kwargs)
    merged = pd.read_csv(merge_shards(sharded, num_shards=2))
    np.testing.assert_allclose(merged.si_sdr.values, oracle.si_sdr.values)
    with pytest.raises(FileNotFoundError, match="Missing shard"):
        merge_shards(sharded, num_shards=3)


def test_evaluate_repairs_a_half_written_row(dataset, tmp_path):
    out = tmp_path / "eval"
    kwargs = dict(metrics_list=["si_sdr"], progress=False)
    csv_path = evaluate({"oracle": Oracle(dataset)}, dataset, out, **kwargs)
    lines = csv_path.read_text().splitlines(keepends=True)
    csv_path.write_text("".join(lines[:2]) + lines[2][:15])  # killed while writing the second row
    evaluate({"oracle": Oracle(dataset)}, dataset, out, **kwargs)
    assert len(pd.read_csv(csv_path)) == 2


class _HostileIds:
    """A dataset whose mixture ids try to leave the output folder."""

    def __init__(self, dataset):
        self.dataset, self.sample_rate = dataset, dataset.sample_rate

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        return self.dataset[idx]

    def mixture_id(self, idx):
        return f"../../../escaped{idx}"


def test_mixture_ids_cannot_place_examples_outside_the_output(dataset, tmp_path):
    from asteroid_mvae.utils.io import UnsafePathError

    with pytest.raises(UnsafePathError, match="unsafe name"):
        evaluate(
            {"auxiva": "auxiva"},
            _HostileIds(dataset),
            tmp_path / "a" / "b" / "out",
            n_examples=1,
            stft_config=CFG,
            progress=False,
        )
    assert not list(tmp_path.rglob("escaped*"))


def test_changed_settings_recompute_that_method_only(dataset, tmp_path):
    out = tmp_path / "eval"
    run = lambda n_iter: evaluate(
        {"auxiva": "auxiva", "ilrma": "ilrma"},
        dataset,
        out,
        metrics_list=["si_sdr"],  # noqa: E731
        n_examples=0,
        stft_config=CFG,
        progress=False,
        separator_options={"n_iter": n_iter},
    )
    run(3)
    first = pd.read_csv(out / "all_metrics.csv")
    run(3)  # same settings: nothing recomputed
    pd.testing.assert_frame_equal(pd.read_csv(out / "all_metrics.csv"), first)
    run(2)  # another n_iter for every method: all rows recomputed with it
    again = pd.read_csv(out / "all_metrics.csv")
    assert len(again) == len(first) and set(again["n_iter"]) == {2}
    curves = [json.loads(line) for line in (out / "curves.jsonl").read_text().splitlines()]
    assert len(curves) == len(again) and all(max(c["iterations"]) == 2 for c in curves)


def test_report_groups_methods_defines_columns_and_keeps_every_n(tmp_path):
    rows, curves = [], []
    for method in ("ilrma", "pra_ilrma", "oracle_ip", "convtasnet"):
        for n_src in (2, 3):
            for k in range(2):  # the same mixture ids at both N
                rows.append(
                    {
                        "method": method,
                        "mixture_id": f"mix{k}",
                        "n_src": n_src,
                        "si_sdr": 5.0 + k,
                        "si_sdr_imp": 4.0 + n_src,
                        "processing_s": 1.0,
                        "rtf": 0.1,
                        "j_increase_fraction": 0.0,
                        "n_iter": 60 if method != "convtasnet" else "",
                    }
                )
                if method != "convtasnet":
                    curves.append(
                        {
                            "method": method,
                            "mixture_id": f"mix{k}",
                            "n_src": n_src,
                            "iterations": [0, 1],
                            "si_sdr_imp": [0.0, 4.0 + n_src],
                            "objective": [2.0, 1.0],
                            "j_increase_fraction": 0.0,
                        }
                    )
    pd.DataFrame(rows).to_csv(tmp_path / "all_metrics.csv", index=False)
    (tmp_path / "curves.jsonl").write_text("".join(json.dumps(c) + "\n" for c in curves))
    paths = make_report(tmp_path)
    table = paths["table"].read_text()
    headings = [line for line in table.splitlines() if line.startswith("### ")]
    assert [h.split()[1] for h in headings] == ["Oracle", "asteroid-mvae", "pyroomacoustics", "PIT"]
    assert "| ilrma | 2 | 2 | 60 |" in table and "| convtasnet | 3 | 2 | – |" in table
    assert "mean ± standard deviation" in table and "N: number of sources" in table
    assert "cannot rank methods" in table  # 2 mixtures per N
    mean = json.loads(paths["curves"].read_text())["mean"]
    assert set(mean["ilrma"]) == {"N=2", "N=3"} and mean["ilrma"]["N=3"]["si_sdr_imp"][-1] == 7.0
