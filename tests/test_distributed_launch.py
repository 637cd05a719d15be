"""The documented multi-node launch, on one node: ``torchrun --standalone --nproc_per_node 2 -m scansr.cli train``.

docs/distributed.md gives ``torchrun --nnodes N --nproc_per_node K --rdzv_backend c10d --rdzv_endpoint HOST:PORT
-m scansr.cli train --config FILE --out RUN``; ``--standalone`` is the same rendezvous on localhost. The run must
finish, record 2 processes in its log, and train the same network as one process with the same global batch
(up to the order of float32 additions), the check tests/test_train_loop.py makes with processes it spawns itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scansr.models import load_model
from scansr.train import train
from tests.train_helpers import tiny_config

TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed beside this Python")
def test_torchrun_launches_scansr_train_on_two_processes(tmp_path: Path) -> None:
    base = tiny_config(tmp_path / "unused", steps=4, checkpoint_every=4, log_every=1)
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, validation=()))
    config_file = tmp_path / "tiny.json"
    config_file.write_text(config.to_json())
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [
            TORCHRUN,
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "scansr.cli",
            "train",
            "--config",
            str(config_file),
            "--out",
            str(run),
            "--steps",
            "4",
            "--resume",  # as docs/distributed.md recommends: starts a new run, or continues an interrupted one
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    start = next(r for r in records if r["event"] == "start")
    assert start["world_size"] == 2
    end = next(r for r in records if r["event"] == "end")
    assert end["step"] == 4
    assert end["finished"] is True
    launched = load_model(run / "model")
    assert launched.config.arch == "vdsr"

    single = train(
        dataclasses.replace(config, out=str(tmp_path / "single")), progress=False
    ).network.state_dict()
    weights = launched.model.state_dict()
    assert weights.keys() == single.keys()
    for k in single:
        torch.testing.assert_close(weights[k], single[k], rtol=1e-5, atol=1e-6, msg=k)
