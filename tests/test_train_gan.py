"""The SEM paper's GAN recipe (``unet-gan``): recipe, loss balanced to 84 / 14 / 2 %, SEM and AFM data, resume.

The shares are the SEM paper's ("The discriminator loss, L1 loss, and the total variation loss make up 84%,
14%, and 2% of the total loss for the generator"). The runs train with a learning rate of 1e-12, so the
networks stay at their start and every logged step shows the loss at the start of training, on the batches
the weights were measured on and on later ones they were not.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from scansr import degrade
from scansr.train import LossConfig, TrainConfig, l1_loss, recipe, train, tv_loss
from scansr.train.config import RECIPE_ALIASES, SEM_PAPER_SHARES
from scansr.train.data import resolve_degradation
from scansr.train.loop import CHECKPOINT_FILE, LOG_FILE
from scansr.train.losses import generator_adversarial_loss, generator_terms, pixel_losses, share_weights
from tests.conftest import shared_path
from tests.test_train_loop import _ddp_worker
from tests.train_helpers import TRAIN_FILES, tiny_config

PAPER = {"adversarial": 0.84, "l1": 0.14, "tv": 0.02}  # SEM paper, text after eq. 4
N_CALIBRATION = 4
N_LATER = 8


def records(run: Path, event: str) -> list[dict]:
    lines = (run / LOG_FILE).read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]


def start_config(out: Path, files: list[Path], **data_changes) -> TrainConfig:
    """The unet-gan recipe with tiny networks and 64-pixel patches, frozen at its start (lr 1e-12)."""
    base = recipe("unet-gan")
    return dataclasses.replace(
        base,
        model_kwargs={"base_channels": 4, "depth": 2},
        data=dataclasses.replace(
            base.data, train=tuple(str(f) for f in files), patch_size=64, batch_size=4, **data_changes
        ),
        optim=dataclasses.replace(base.optim, lr=1e-12),
        loss=dataclasses.replace(
            base.loss,
            calibration_batches=N_CALIBRATION,
            discriminator_kwargs={"base_channels": 4, "n_blocks": 2},
        ),
        steps=N_CALIBRATION + N_LATER,
        log_every=1,
        checkpoint_every=1000,
        threads=1,
        out=str(out),
    )


def shares(rows: list[dict]) -> dict[str, float]:
    """Each term's share of the loss, over the steps of `rows` (means of the logged weighted terms)."""
    total = np.mean([r["loss"] for r in rows])
    return {k: float(np.mean([r["terms"][k] for r in rows]) / total) for k in rows[0]["terms"]}


def check_paper_shares(run: Path) -> None:
    calibration = records(run, "calibration")
    assert len(calibration) == 1
    assert calibration[0]["batches"] == N_CALIBRATION
    assert calibration[0]["shares"] == pytest.approx(PAPER)
    steps = records(run, "train")
    assert [r["step"] for r in steps] == list(range(1, N_CALIBRATION + N_LATER + 1))
    # The training steps on the calibration batches (the steps that start the run): the shares exactly,
    # up to float32 sums, and a total loss of 1.
    first = steps[:N_CALIBRATION]
    assert np.mean([r["loss"] for r in first]) == pytest.approx(1.0, abs=1e-4)
    assert shares(first) == pytest.approx(PAPER, abs=1e-4)
    # Batches the weights were not measured on: within the batch-to-batch spread of 4 patches per batch.
    later = shares(steps[N_CALIBRATION:])
    assert later["adversarial"] == pytest.approx(0.84, abs=0.04)
    assert later["l1"] == pytest.approx(0.14, abs=0.04)
    assert later["tv"] == pytest.approx(0.02, abs=0.01)
    # The weights are in the log's start record and in the saved model's configuration.
    weights = calibration[0]["weights"]
    assert records(run, "start")[0]["loss_weights"] == weights
    training = json.loads((run / "model" / "config.json").read_text())["training"]
    assert training["loss_weights"] == weights
    assert training["loss_calibration"]["magnitudes"] == calibration[0]["magnitudes"]
    assert training["config"]["loss"]["balance"] == "shares"


# ------------------------------------------------------------------------------------------------- recipe
def test_unet_gan_is_a_recipe_name_for_the_unet_architecture() -> None:
    assert RECIPE_ALIASES == {"unet-gan": "unet"}
    assert recipe("unet-gan") == recipe("unet")
    assert recipe("unet-gan").arch == "unet"
    assert TrainConfig.from_dict({"arch": "unet-gan", "steps": 3}).arch == "unet"
    with pytest.raises(ValueError, match=r"arch must be one of .*'unet-gan'"):
        recipe("srgan")


def test_gan_recipe_follows_the_sem_paper() -> None:
    config = recipe("unet-gan")
    loss = config.loss
    assert (loss.balance, loss.terms) == ("shares", PAPER)
    assert SEM_PAPER_SHARES == PAPER
    assert loss.adversarial_kind == "lsgan"  # eq. 4: least squares
    assert loss.discriminator_every == 4
    assert (config.data.patch_size, config.data.augment, config.scales) == (128, True, (2,))
    # Grey levels as measured: no levelling, row alignment or clipping of the counts.
    assert (config.data.level_plane, config.data.align_rows, config.data.clip) == (False, None, None)
    # LR: ×2 pixel size (aliased point sampling most of the time), beam blur, shot noise.
    sem = resolve_degradation(config.data.degradation)
    assert sem is degrade.SEM_DEFAULT
    assert "point" in sem.samplings
    assert sem.blur_probability > 0
    assert sem.shot_noise_probability > 0


# ------------------------------------------------------------------------------------------------- losses
def test_share_weights_give_each_term_its_share() -> None:
    magnitudes = {"adversarial": 0.25, "l1": 0.08, "tv": 0.5}
    weights = share_weights(magnitudes, {"adversarial": 84, "l1": 14, "tv": 2})  # shares need not sum to 1
    weighted = {k: weights[k] * magnitudes[k] for k in weights}
    assert weighted == pytest.approx(PAPER)
    with pytest.raises(ValueError, match=r"'l1' term a share of the loss: its measured magnitude is 0\.0"):
        share_weights({**magnitudes, "l1": 0.0}, PAPER)
    with pytest.raises(ValueError, match="share of 'tv'"):
        share_weights(magnitudes, {**PAPER, "tv": -1.0})


def test_generator_terms_weigh_the_plain_losses() -> None:
    g = torch.Generator().manual_seed(0)
    sr, hr = torch.randn(2, 1, 8, 8, generator=g), torch.randn(2, 1, 8, 8, generator=g)
    logits = torch.randn(2, 1, generator=g)
    terms = generator_terms(
        sr, hr, {"l1": 2.0, "tv": 0.5, "adversarial": 3.0}, fake_logits=logits, kind="lsgan"
    )
    assert float(terms["l1"]) == pytest.approx(2 * float(l1_loss(sr, hr)))
    assert float(terms["tv"]) == pytest.approx(0.5 * float(tv_loss(sr)))
    assert float(terms["adversarial"]) == pytest.approx(3 * float((torch.sigmoid(logits) - 1).pow(2).mean()))
    assert float(terms["adversarial"]) == pytest.approx(
        3 * float(generator_adversarial_loss(logits, kind="lsgan"))
    )
    with pytest.raises(ValueError, match="fake_logits"):
        generator_terms(sr, hr, {"adversarial": 1.0})
    with pytest.raises(ValueError, match=r"unknown loss term\(s\) \['ssim'\]"):
        generator_terms(sr, hr, {"ssim": 1.0})
    with pytest.raises(ValueError, match="balance is 'shares'"):
        pixel_losses(sr, hr, LossConfig(l1=0.14, l2=0.0, tv=0.02, adversarial=0.84, balance="shares"))


# ------------------------------------------------------------------------------------------------- data
def test_shares_at_the_start_on_real_sem_data(tmp_path: Path) -> None:
    sem = shared_path("data", "sem", "rosettasciio")
    files = [sem / "test_tiff_Zeiss_SEM_1k.tif", sem / "ZEISS_SEM_multipage.tif"]
    run = train(start_config(tmp_path / "sem", files), progress=False).run
    check_paper_shares(run)
    assert json.loads((run / "model" / "config.json").read_text())["training"]["unit"] == "counts"


def test_shares_at_the_start_on_afm_scans(tmp_path: Path) -> None:
    # The AFM preparation and degradation (heights in metres, levelled, rows aligned, clipped).
    config = start_config(
        tmp_path / "afm",
        list(TRAIN_FILES),
        level_plane=True,
        align_rows="median",
        clip=(2.5, 97.5),
        degradation="afm",
    )
    run = train(config, progress=False).run
    check_paper_shares(run)
    assert json.loads((run / "model" / "config.json").read_text())["training"]["unit"] == "m"


def test_resumed_run_keeps_the_weights_of_its_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = dataclasses.replace(start_config(out, list(TRAIN_FILES[:2])), steps=3, checkpoint_every=3)
    train(config, progress=False)
    # Change the weights in the checkpoint: the resumed run must use them, not measure again.
    state = torch.load(out / CHECKPOINT_FILE, weights_only=True)
    changed = {k: 2 * v for k, v in state["loss_weights"].items()}
    state["loss_weights"] = changed
    torch.save(state, out / CHECKPOINT_FILE)
    train(dataclasses.replace(config, steps=5), resume=True, progress=False)
    assert len(records(out, "calibration")) == 1
    assert records(out, "start")[-1]["loss_weights"] == changed
    training = json.loads((out / "model" / "config.json").read_text())["training"]
    assert training["loss_weights"] == changed


def test_two_processes_measure_the_weights_of_one_process(tmp_path: Path) -> None:
    # Each process measures the terms on its half of every calibration batch; the all-reduced means are the
    # single process's, up to the order of float32 additions.
    config = tiny_config(
        tmp_path / "ddp",
        arch="unet",
        steps=2,
        validation=dataclasses.replace(tiny_config(tmp_path).validation, every=1000),
    )
    config = dataclasses.replace(config, loss=dataclasses.replace(config.loss, calibration_batches=3))
    torch.multiprocessing.spawn(
        _ddp_worker, args=(2, str(tmp_path / "store"), config.to_json(), str(tmp_path)), nprocs=2, join=True
    )
    single = train(dataclasses.replace(config, out=str(tmp_path / "single")), progress=False).run
    two = records(tmp_path / "ddp", "calibration")[0]
    one = records(single, "calibration")[0]
    assert records(tmp_path / "ddp", "start")[0]["world_size"] == 2
    assert two["magnitudes"] == pytest.approx(one["magnitudes"], rel=1e-5)
    assert two["weights"] == pytest.approx(one["weights"], rel=1e-5)
