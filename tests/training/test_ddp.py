"""Lightning DDP on the CPU (gloo, 2 processes) through ``asteroid_mvae.training.train``: both
ranks train, their parameters are equal after every step (gradients were all-reduced), and one
checkpoint and one network package are written (rank 0)."""

import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path

    import torch
    from pytorch_lightning.callbacks import Callback

    from asteroid_mvae.training import make_config, run, train

    model, data, out, teacher = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]

    class DumpParameters(Callback):  # each rank writes its parameters after every step
        def on_train_batch_end(self, trainer, pl_module, *args):
            flat = torch.cat([p.detach().flatten() for p in pl_module.model.parameters()])
            torch.save(flat, out / f"rank{trainer.global_rank}_step{trainer.global_step}.pt")

    run.training_progress_callback = lambda desc: DumpParameters()
    conf = {"exp_dir": str(out), "data": {"root": data, "dataset_args": {"segment_frames": 16}, "scale_items": 20},
            "network": {"n_freq": 1024}, "teacher": None if teacher == "-" else teacher,
            "optim": {"batch_size": 2}, "batchnorm": {"recalibrate_batches": 2},
            "trainer": {"strategy": "ddp", "accelerator": "cpu", "devices": 2, "max_steps": 3, "max_epochs": 100,
                        "limit_val_batches": 1, "enable_progress_bar": False}}
    train(make_config(model, "paper", conf))
""")


@pytest.fixture(scope="module")
def speakers(tmp_path_factory):
    from asteroid_mvae.cli import main

    root = tmp_path_factory.mktemp("ddp")
    assert (
        main(
            [
                "simulate-speakers",
                "--corpus",
                "builtin",
                "--builtin-speakers",
                "3",
                "--builtin-utterances",
                "2",
                "--n-per-speaker",
                "3",
                "--duration",
                "1.0",
                "--out",
                str(root / "speakers"),
            ]
        )
        == 0
    )
    (root / "ddp_train.py").write_text(SCRIPT)
    return root


def ddp_train(root, model, teacher="-"):
    out = root / model
    out.mkdir()
    done = subprocess.run(
        [sys.executable, str(root / "ddp_train.py"), model, str(root / "speakers"), str(out), str(teacher)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(root)},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def check_synchronised(out):
    for step in (1, 2, 3):
        rank0, rank1 = (torch.load(out / f"rank{r}_step{step}.pt") for r in (0, 1))
        assert torch.equal(rank0, rank1), f"ranks differ after step {step}"
    assert not torch.equal(torch.load(out / "rank0_step1.pt"), torch.load(out / "rank0_step3.pt"))  # it trained
    assert (out / "network.pt").is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in out.glob("*.pt") if not p.name.startswith("rank")) == ["network.pt"]


def test_cvae_and_chimera_train_with_ddp_on_two_cpu_processes(speakers):
    cvae = ddp_train(speakers, "cvae")
    check_synchronised(cvae)
    check_synchronised(ddp_train(speakers, "chimera", cvae / "network.pt"))
