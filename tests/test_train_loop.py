"""The training loop: exact resumption (also after SIGKILL), 2 processes = 1 process, validation in metres."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from scansr import metrics
from scansr.models import load_model
from scansr.scan import OutputExistsError
from scansr.train import OptimConfig, learning_rate, predict_tiled, train
from scansr.train.data import PairSampler, load_images, prepare_validation, resolve_degradation
from scansr.train.loop import CHECKPOINT_FILE, LOG_FILE
from tests.train_helpers import tiny_config

REPO = Path(__file__).resolve().parents[1]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path).model.state_dict()


def assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / LOG_FILE).read_text().splitlines()]


# ---------------------------------------------------------------------------------------------- schedules
def test_learning_rate_schedules() -> None:
    step = OptimConfig(lr=0.1, schedule="step", step_every=10, gamma=0.1)
    assert [learning_rate(s, step, 40) for s in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    quarter = OptimConfig(lr=0.1, schedule="step", gamma=0.5)  # step_every None: every quarter of the run
    assert learning_rate(24, quarter, 100) == pytest.approx(0.1)
    assert learning_rate(25, quarter, 100) == pytest.approx(0.05)
    cosine = OptimConfig(lr=1.0, schedule="cosine", min_lr_factor=0.1)
    assert learning_rate(0, cosine, 100) == pytest.approx(1.0)
    assert learning_rate(50, cosine, 100) == pytest.approx(0.55)
    assert learning_rate(100, cosine, 100) == pytest.approx(0.1)
    warm = OptimConfig(lr=1.0, schedule="constant", warmup_steps=4)
    assert [learning_rate(s, warm, 10) for s in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])


# ------------------------------------------------------------------------------------------------- resume
@pytest.mark.parametrize("arch", ["vdsr", "unet"])
def test_resume_is_bit_identical(tmp_path: Path, arch: str) -> None:
    # 20 steps straight == 10 steps, then resume to 20: weights equal bit for bit (the GAN: generator and D).
    straight = train(tiny_config(tmp_path / "straight", arch=arch), progress=False)
    assert straight.finished
    assert straight.step == 20
    first = train(tiny_config(tmp_path / "split", arch=arch, steps=10), progress=False)
    assert first.step == 10
    resumed = train(tiny_config(tmp_path / "split", arch=arch), resume=True, progress=False)
    assert resumed.step == 20
    assert resumed.finished
    assert_identical(weights(straight.model), weights(resumed.model))
    a = torch.load(straight.run / CHECKPOINT_FILE, weights_only=True)
    b = torch.load(resumed.run / CHECKPOINT_FILE, weights_only=True)
    if arch == "unet":
        assert_identical(a["discriminator"], b["discriminator"])
    for k, v in a["optimizer"]["state"].items():
        for name, t in v.items():
            assert torch.equal(t, b["optimizer"]["state"][k][name]), (k, name)
    # The log of the resumed run has each training record once, with the same losses.
    log_a = [r for r in records(straight.run) if r["event"] == "train"]
    log_b = [r for r in records(resumed.run) if r["event"] == "train"]
    assert [r["step"] for r in log_b] == [5, 10, 15, 20]
    assert [r["loss"] for r in log_a] == [r["loss"] for r in log_b]
    # Best model and validation numbers agree as well.
    assert straight.best_step == resumed.best_step
    assert straight.best_psnr == resumed.best_psnr


def test_existing_run_needs_resume_and_same_settings(tmp_path: Path) -> None:
    config = tiny_config(
        tmp_path / "run", steps=5, validation=dataclasses.replace(tiny_config(tmp_path).validation, every=100)
    )
    train(config, progress=False)
    with pytest.raises(OutputExistsError, match="resume"):
        train(config, progress=False)
    changed = dataclasses.replace(config, optim=dataclasses.replace(config.optim, lr=0.5))
    with pytest.raises(ValueError, match=r"optim\.lr: 0\.01 -> 0\.5"):
        train(changed, resume=True, progress=False)
    # A finished run resumed with the same steps does nothing more.
    again = train(config, resume=True, progress=False)
    assert again.step == 5
    assert again.finished


KILL_SCRIPT = """
import dataclasses, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from scansr.train import data, train
from tests.train_helpers import tiny_config

original = data.PairSampler.batch
def slow_batch(self, step, samples):  # slower steps, same numbers: the parent has time to kill
    time.sleep(0.05)
    return original(self, step, samples)
data.PairSampler.batch = slow_batch
config = tiny_config(Path({out!r}), steps=60)
train(dataclasses.replace(config, optim=dataclasses.replace(config.optim, schedule="cosine")), progress=False)
"""


def test_killed_run_resumes_exactly(tmp_path: Path) -> None:
    base = tiny_config(tmp_path / "straight", steps=60)
    optim = dataclasses.replace(base.optim, schedule="cosine")
    out = tmp_path / "killed"
    script = KILL_SCRIPT.format(repo=str(REPO), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / CHECKPOINT_FILE).exists():
            if proc.poll() is not None:
                pytest.fail(f"training subprocess ended early: {proc.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint within 120 s")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = torch.load(out / CHECKPOINT_FILE, weights_only=True)["step"]
    assert 5 <= killed_at < 60
    resumed = train(dataclasses.replace(base, out=str(out), optim=optim), resume=True, progress=False)
    straight = train(dataclasses.replace(base, optim=optim), progress=False)
    assert resumed.step == straight.step == 60
    assert_identical(weights(straight.model), weights(resumed.model))


# ------------------------------------------------------------------------------------------- validation
def test_validation_numbers_are_psnr_in_metres(tmp_path: Path) -> None:
    result = train(tiny_config(tmp_path / "run", steps=10), progress=False)
    config = tiny_config(tmp_path / "run")
    val = [r for r in records(result.run) if r["event"] == "val"]
    assert [r["step"] for r in val] == [10]
    logged = {(r["image"], r["scale"]): r for r in val[0]["images"]}
    # Independent recomputation: the saved best model, the same fixed-seed LR scans, scansr.metrics.psnr.
    images = load_images(config.data.validation, config.data, what="validation")
    pairs = prepare_validation(
        images,
        scales=(2, 3),
        config=config.data,
        degradation=resolve_degradation(config.data.degradation),
        seed=0,
    )
    model = load_model(result.best).model
    assert len(pairs) == len(logged) == 4
    for p in pairs:
        assert p.hr.max() < 1e-5  # heights in metres, not normalised units
        x = torch.from_numpy(((p.lr - p.offset) / p.norm_scale).astype(np.float32))[None, None]
        sr = (
            predict_tiled(model, x, p.scale, tile=24, overlap=6)[0, 0].double().numpy() * p.norm_scale
            + p.offset
        )
        assert sr.shape == p.hr.shape
        data_range = p.hr.max() - p.hr.min()
        assert logged[(p.name, p.scale)]["psnr"] == pytest.approx(
            metrics.psnr(p.hr, sr, data_range=data_range), abs=1e-6
        )
        bicubic = metrics.psnr(
            p.hr, __import__("scansr").interpolate.upscale(p.lr, p.scale), data_range=data_range
        )
        assert logged[(p.name, p.scale)]["psnr_bicubic"] == pytest.approx(bicubic, abs=1e-9)
    assert val[0]["psnr"] == pytest.approx(np.mean([r["psnr"] for r in val[0]["images"]]))


def test_validation_degradation_is_fixed_by_seed_and_file(tmp_path: Path) -> None:
    config = tiny_config(tmp_path)
    images = load_images(config.data.validation, config.data, what="validation")
    degradation = resolve_degradation("afm")
    a = prepare_validation(
        images, scales=(2,), config=config.data, degradation=degradation, seed=0, ssim=False
    )
    b = prepare_validation(
        images[::-1], scales=(2,), config=config.data, degradation=degradation, seed=0, ssim=False
    )
    c = prepare_validation(
        images, scales=(2,), config=config.data, degradation=degradation, seed=1, ssim=False
    )
    by_name = {p.name: p.lr for p in b}
    for p in a:
        np.testing.assert_array_equal(p.lr, by_name[p.name])  # independent of order and of other files
    assert any(not np.array_equal(p.lr, q.lr) for p, q in zip(a, c, strict=True))


def test_result_and_run_folder(tmp_path: Path) -> None:
    result = train(tiny_config(tmp_path / "run", steps=10), progress=False)
    for name in (
        "config.json",
        "files.json",
        "log.jsonl",
        "checkpoint.pt",
        "model/config.json",
        "best/model.safetensors",
    ):
        assert (result.run / name).exists(), name
    events = [r["event"] for r in records(result.run)]
    assert events[:2] == ["start", "baseline"]
    assert events[-1] == "end"
    saved = load_model(result.model)
    assert saved.config.training["step"] == 10
    assert saved.config.normalisation == {
        "kind": "zscore",
        "fit_on": "lr",
        "clip": [2.5, 97.5],
        "level_plane": True,
        "align_rows": "median",
    }
    files = json.loads((result.run / "files.json").read_text())
    assert len(files["train"]) == 4
    assert len(files["validation"]) == 2
    assert math.isfinite(result.best_psnr)


# ------------------------------------------------------------------------------------------- distributed
def _ddp_worker(rank: int, world: int, store: str, config_json: str, out: str) -> None:
    import torch.distributed as dist

    from scansr.train import TrainConfig, train

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        config = TrainConfig.from_dict(json.loads(config_json))
        result = train(config, progress=False)
        torch.save(result.network.state_dict(), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    # EDSR-baseline has one tail per scale: with scales 2, 3, 4 mixed in a batch of 4, process 0 gets ×2 and ×3,
    # process 1 ×4 and ×2; DistributedDataParallel must handle tails unused in one process like one process does.
    config = tiny_config(
        tmp_path / "ddp",
        arch="edsr-baseline",
        scales=(2, 3, 4),
        steps=4,
        data=dataclasses.replace(tiny_config(tmp_path).data, batch_size=4, scale_sampling="mixed"),
        validation=dataclasses.replace(tiny_config(tmp_path).validation, every=1000),
    )
    sampler = PairSampler(
        load_images(config.data.train, config.data),
        scales=config.scales,
        config=config.data,
        degradation=resolve_degradation(config.data.degradation),
        seed=config.seed,
    )
    assert [g.scale for g in sampler.batch(0, range(2))] == [2, 3]
    assert [g.scale for g in sampler.batch(0, range(2, 4))] == [2, 4]
    torch.multiprocessing.spawn(
        _ddp_worker, args=(2, str(tmp_path / "store"), config.to_json(), str(tmp_path)), nprocs=2, join=True
    )
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert_identical(r0, r1)  # every process applies the same averaged gradient to the same weights
    single = train(
        dataclasses.replace(config, out=str(tmp_path / "single")), progress=False
    ).network.state_dict()
    # The averaged gradient equals the single-process one up to the order of float32 additions (two half-batch
    # sums averaged instead of one sum): relative differences of ~1e-7 per step, a few 1e-7 after 4 steps.
    for k in single:
        torch.testing.assert_close(r0[k], single[k], rtol=1e-5, atol=1e-6, msg=k)
    start = next(r for r in records(tmp_path / "ddp") if r["event"] == "start")
    assert start["world_size"] == 2
