"""scansr.batch: finding scans, output names, resumable batches, failures, local workers and Dask with a lost worker.

Every output is checked against `scansr.enhance.enhance` called directly on the same file (the reference), read
back with `scansr.io.read`. The network is a tiny VDSR trained for 20 steps on two shipped scans (module fixture).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from scansr import io
from scansr.batch import (
    MANIFEST_SUFFIX,
    BatchSettings,
    Job,
    ScanFile,
    check_settings,
    find_scans,
    output_is_complete,
    plan_jobs,
    run_batch,
    run_jobs,
)
from tests.conftest import TEST_DATA
from tests.train_helpers import TRAIN_FILES, tiny_config

PFM = TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy"  # 128²
CIRCLES = TEST_DATA / "NSFopen" / "circles.nid"  # 256²
SXM = TEST_DATA / "pySPM" / "test.sxm"  # 256²
SPM = TEST_DATA / "afm-cbir-examples" / "CL 0deg xcal.0_00000.spm"
PTO = TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"

OPTIONS = {"uncertainty": False}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only wait on each other
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from scansr.train import train

    out = tmp_path_factory.mktemp("batch") / "run"
    config = tiny_config(out, steps=20, scales=(2,), checkpoint_every=20)
    data = dataclasses.replace(config.data, train=tuple(str(p) for p in TRAIN_FILES[:2]), validation=())
    return train(dataclasses.replace(config, data=data), progress=False).model


def make_tree(root: Path) -> Path:
    """Real scans in nested folders, with files that are not scans."""
    (root / "a" / "sub").mkdir(parents=True)
    (root / "b").mkdir()
    shutil.copy(CIRCLES, root / "a" / "circles.nid")
    shutil.copy(PFM, root / "a" / "sub" / "pfm.gwy")
    shutil.copy(SXM, root / "b" / "test.sxm")
    (root / "README.txt").write_text("Scans of the circles sample, 2024.\n")
    (root / "notes.md").write_text("# notes\n")
    shutil.copy(PFM, root / "a" / ".hidden.gwy")
    return root


def reference(path: Path, model: Path, **options) -> np.ndarray:
    from scansr.enhance import enhance

    return enhance(io.read(path), scale=2, model=model, **{**OPTIONS, **options}).scan.channels[0].data


def output_data(path: Path) -> np.ndarray:
    return io.read(path).channels[0].data


def assert_close(test: np.ndarray, ref: np.ndarray) -> None:
    # Other thread counts change the order of float additions: agree to float32 rounding of the network.
    np.testing.assert_allclose(test, ref, rtol=0, atol=1e-5 * float(np.ptp(ref)))


# ---------------------------------------------------------------------------------------------- finding, names
def test_find_scans_mirrors_the_tree_and_skips_what_is_not_a_scan(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "scans")
    flat = find_scans(root)
    assert flat == []  # nothing at the top level but a README and notes
    found = find_scans(root, recursive=True)
    assert [f.relative.as_posix() for f in found] == ["a/circles.nid", "a/sub/pfm.gwy", "b/test.sxm"]
    assert [f.path for f in found] == [
        root / "a" / "circles.nid",
        root / "a" / "sub" / "pfm.gwy",
        root / "b" / "test.sxm",
    ]
    assert [f.relative.as_posix() for f in find_scans(root, recursive=True, include=["*.gwy"])] == [
        "a/sub/pfm.gwy"
    ]
    # A file named directly is taken as it is; found twice, listed once.
    both = find_scans([root / "b" / "test.sxm", root / "b"])
    assert [(f.path.name, f.relative.as_posix()) for f in both] == [("test.sxm", "test.sxm")]
    # A text matrix is a scan, a README is not.
    matrix = root / "matrix.txt"
    matrix.write_text("\n".join(" ".join(str(i * j) for j in range(8)) for i in range(8)) + "\n")
    assert [f.relative.as_posix() for f in find_scans(root)] == ["matrix.txt"]


def test_output_names_mirror_the_tree_and_clashing_stems_keep_their_suffix(tmp_path: Path) -> None:
    files = [
        ScanFile(tmp_path / "in" / "a" / "x.nid", Path("a/x.nid")),
        ScanFile(tmp_path / "in" / "chip.gwy", Path("chip.gwy")),
        ScanFile(tmp_path / "in" / "chip.gsf", Path("chip.gsf")),
    ]
    jobs = plan_jobs(files, tmp_path / "out", scale=4, suffix="GWY")
    assert [j.output.relative_to(tmp_path / "out").as_posix() for j in jobs] == [
        "a/x.x4.gwy",
        "chip.gwy.x4.gwy",
        "chip.gsf.x4.gwy",
    ]
    same = [
        ScanFile(tmp_path / "one" / "x.nid", Path("x.nid")),
        ScanFile(tmp_path / "two" / "x.nid", Path("x.nid")),
    ]
    with pytest.raises(ValueError, match="same output"):
        plan_jobs(same, tmp_path / "out", scale=4)
    with pytest.raises(ValueError, match="output format must be one of"):
        plan_jobs(files, tmp_path / "out", scale=4, suffix=".nid")
    with pytest.raises(ValueError, match="replace an input"):
        plan_jobs(
            [ScanFile(tmp_path / "x.gwy", Path("x.gwy")), ScanFile(tmp_path / "x.x4.gwy", Path("x.x4.gwy"))],
            tmp_path,
            scale=4,
        )


def test_settings_are_checked_before_any_job(model: Path) -> None:
    with pytest.raises(ValueError, match=r"scale must be one of \(2,\)"):
        check_settings(BatchSettings(scale=4, model=str(model)))
    with pytest.raises(ValueError, match="not among"):
        check_settings(BatchSettings(scale=2, model=str(model), enhance={"colour": True}))
    checked = check_settings(BatchSettings(scale=2, model=str(model), suffix="npz"))
    assert checked.suffix == ".npz"
    assert len(checked.model_sha256) == 64


# ---------------------------------------------------------------------------------------------- serial batches
def test_a_batch_equals_enhance_and_a_rerun_resumes(model: Path, tmp_path: Path) -> None:
    root = make_tree(tmp_path / "scans")
    out = tmp_path / "out"
    settings = BatchSettings(scale=2, model=str(model), enhance=OPTIONS)
    result = run_batch(root, out, settings, recursive=True)
    assert [r.status for r in result.results] == ["done"] * 3
    outputs = {
        "circles": out / "a" / "circles.x2.gwy",
        "pfm": out / "a" / "sub" / "pfm.x2.gwy",
        "sxm": out / "b" / "test.x2.gwy",
    }
    sources = {
        "circles": root / "a" / "circles.nid",
        "pfm": root / "a" / "sub" / "pfm.gwy",
        "sxm": root / "b" / "test.sxm",
    }
    for name, path in outputs.items():
        ref = reference(sources[name], model)
        np.testing.assert_array_equal(output_data(path), ref)  # same process, same threads: bit for bit
        manifest = json.loads(path.with_name(path.name + MANIFEST_SUFFIX).read_text())
        assert manifest["state"] == "complete"
        assert manifest["files"] == [path.name]
        assert manifest["scale"] == 2
        assert manifest["enhance"] == OPTIONS
    assert not (out / "README.x2.gwy").exists()

    # Rerun: nothing is redone, nothing is rewritten.
    stamps = {p: p.stat().st_mtime_ns for p in outputs.values()}
    again = run_batch(root, out, settings, recursive=True)
    assert [r.status for r in again.results] == ["skipped"] * 3
    assert {p: p.stat().st_mtime_ns for p in outputs.values()} == stamps

    # A changed input is redone, the others are not.
    shutil.copy(SPM, sources["sxm"])  # other content under the same name
    changed = run_batch(root, out, settings, recursive=True)
    assert [r.status for r in changed.results] == ["skipped", "skipped", "done"]
    assert_close(output_data(outputs["sxm"]), reference(sources["sxm"], model))

    # Another option redoes everything.
    tta = dataclasses.replace(settings, enhance={**OPTIONS, "tta": True})
    redone = run_batch(root, out, tta, recursive=True)
    assert [r.status for r in redone.results] == ["done"] * 3
    np.testing.assert_array_equal(output_data(outputs["pfm"]), reference(sources["pfm"], model, tta=True))

    # The outputs (and their manifests) are not taken for inputs when the output folder lies inside the input.
    inside = run_batch(root, root / "enhanced", tta, recursive=True)
    assert len(inside.results) == 3
    assert (
        len(run_batch(root, root, tta, recursive=True).results) == 3
    )  # outputs beside inputs: manifests say so


def test_a_failing_file_does_not_stop_the_batch(model: Path, tmp_path: Path, capsys) -> None:
    from scansr.cli import main

    root = tmp_path / "scans"
    root.mkdir()
    shutil.copy(PFM, root / "good.gwy")
    (root / "broken.gwy").write_bytes(PFM.read_bytes()[:3000])  # truncated
    shutil.copy(PTO, root / "pto.h5")
    out = tmp_path / "out"
    args = ["enhance", str(root), "--out-dir", str(out), "--scale", "2", "--model", str(model)]
    code = main([*args, "--no-uncertainty", "--quiet"])
    assert code == 1
    captured = capsys.readouterr()
    assert "2 enhanced, 0 skipped (complete already), 1 failed, of 3 scans" in captured.out
    [line] = [ln for ln in captured.err.splitlines() if ln.startswith("  failed:")]
    assert "broken.gwy" in line
    assert "ScanReadError" in line
    assert_close(output_data(out / "good.x2.gwy"), reference(root / "good.gwy", model))
    assert_close(output_data(out / "pto.x2.gwy"), reference(root / "pto.h5", model))
    manifest = json.loads((out / f"broken.x2.gwy{MANIFEST_SUFFIX}").read_text())
    assert manifest["state"] == "failed"
    assert not (out / "broken.x2.gwy").exists()

    # A job killed between its manifest and its output ("running") is redone; the good ones are skipped.
    (root / "broken.gwy").unlink()
    good = out / "good.x2.gwy"
    record = json.loads(good.with_name(good.name + MANIFEST_SUFFIX).read_text())
    good.with_name(good.name + MANIFEST_SUFFIX).write_text(json.dumps({**record, "state": "running"}))
    assert main([*args, "--no-uncertainty", "--quiet"]) == 0
    assert "1 enhanced, 1 skipped (complete already), 0 failed, of 2 scans" in capsys.readouterr().out


def test_the_cli_passes_the_low_resolution_model_to_back_projection(model: Path, tmp_path: Path) -> None:
    from scansr.cli import main

    out = tmp_path / "pfm.x2.gwy"
    args = ["enhance", str(PFM), "-o", str(out), "--scale", "2", "--model", str(model), "--no-uncertainty"]
    assert main([*args, "--back-projection", "2", "--downsample", "bicubic", "--quiet"]) == 0
    chosen = reference(PFM, model, back_projection=2, downsample="bicubic")
    assert_close(output_data(out), chosen)
    # the operator matters (at ×2 point sampling of an even block is its mean, i.e. area: compare with bicubic)
    area = reference(PFM, model, back_projection=2, downsample="area")
    assert np.abs(area - chosen).max() > 1e-3 * float(np.ptp(chosen))


def test_an_output_that_is_not_the_batch_is_left_alone_without_force(model: Path, tmp_path: Path) -> None:
    root = tmp_path / "scans"
    root.mkdir()
    shutil.copy(PFM, root / "pfm.gwy")
    out = tmp_path / "out"
    out.mkdir()
    (out / "pfm.x2.gwy").write_bytes(b"someone else's file")
    settings = BatchSettings(scale=2, model=str(model), enhance=OPTIONS)
    [r] = run_batch(root, out, settings).results
    assert r.status == "failed"
    assert "no batch manifest" in r.error
    assert (out / "pfm.x2.gwy").read_bytes() == b"someone else's file"
    [r] = run_batch(root, out, dataclasses.replace(settings, force=True)).results
    assert r.status == "done"
    assert_close(output_data(out / "pfm.x2.gwy"), reference(root / "pfm.gwy", model))
    assert run_batch(root, out, settings).results[0].status == "skipped"
    assert run_batch(root, out, dataclasses.replace(settings, force=True)).results[0].status == "done"  # redo


def test_single_channel_formats_list_their_map_files(model: Path, tmp_path: Path) -> None:
    settings = BatchSettings(scale=2, model=str(model), suffix=".gsf", enhance=OPTIONS)
    [r] = run_batch([PFM], tmp_path, settings).results
    assert [Path(f).name for f in r.files] == [
        "SingFreqPFM_0003.x2.gsf",
        "SingFreqPFM_0003.x2.consistency.gsf",
    ]
    job = Job(PFM, tmp_path / "SingFreqPFM_0003.x2.gsf")
    assert output_is_complete(job, check_settings(settings))
    (tmp_path / "SingFreqPFM_0003.x2.consistency.gsf").unlink()  # a map lost: the output is not complete
    assert not output_is_complete(job, check_settings(settings))
    # The outputs of a batch are not found as inputs.
    assert find_scans(tmp_path) == []


# ---------------------------------------------------------------------------------------------- workers
@pytest.mark.slow  # two fresh processes import torch: ~5 s on a quiet 2-core machine
def test_local_worker_processes_give_the_serial_outputs(model: Path, tmp_path: Path) -> None:
    files = [PFM, CIRCLES]
    settings = check_settings(BatchSettings(scale=2, model=str(model), enhance=OPTIONS))
    jobs = plan_jobs(find_scans(files), tmp_path, scale=2)
    result = run_jobs(jobs, settings, workers=2)
    assert [r.status for r in result.results] == ["done"] * 2
    for path, job in zip(files, jobs, strict=True):
        assert_close(output_data(job.output), reference(path, model))


@pytest.mark.slow  # a local cluster of two processes, one restarted: ~8 s on a quiet 2-core machine
def test_dask_finishes_the_batch_when_a_worker_dies(model: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    root = tmp_path / "scans"
    root.mkdir()
    sources = [PFM, CIRCLES, SXM, PTO]
    for i, src in enumerate(sources):
        shutil.copy(src, root / f"{i}{src.suffix}")
    out = tmp_path / "out"
    settings = BatchSettings(scale=2, model=str(model), enhance=OPTIONS, threads=1)

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        outcome: dict = {}
        runner = threading.Thread(
            target=lambda: outcome.update(result=run_batch(root, out, settings, scheduler=client, retries=2))
        )
        runner.start()
        # Kill (SIGKILL) a worker process as soon as it is running a task: its tasks must be run again.
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline and runner.is_alive():
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                victim = busy[0]
            else:
                time.sleep(0.05)
        assert victim is not None, "no task started within 60 s"
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        runner.join(timeout=120)
        assert not runner.is_alive()
        assert victim not in client.scheduler_info()["workers"]  # the worker really died

    result = outcome["result"]
    assert [r.status for r in result.results] == ["done"] * len(sources), [r.error for r in result.failed]
    for i, src in enumerate(sources):
        assert_close(output_data(out / f"{i}.x2.gwy"), reference(src, model))
