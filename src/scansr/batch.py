"""Enhance many scans: find them, name the outputs, skip what is done, run on local processes or a Dask cluster.

``run_batch(["scans/"], "enhanced/", BatchSettings(scale=4, model="run/model"), recursive=True)`` enhances every
readable scan below ``scans/`` into ``enhanced/``, mirroring the input tree, and returns a `BatchResult`.

Finding scans (`find_scans`)
    A folder is searched (with ``recursive=True``, its sub-folders too) for files whose suffix is one that
    `scansr.io.FORMATS` reads. Suffixes that many other files share (``.txt``, ``.csv``, ``.asc``, ``.xyz``,
    ``.dat``) are taken only when a format's sniffer recognises the file's first 4 KB (a README.txt is not a
    scan); `include` patterns (``"*.spm"``) narrow the search further. Hidden files and folders (name starting
    with a dot, such as the temporary files of atomic writes) are skipped, and so are this module's own
    outputs: every file a manifest in the same folder lists, and the output folder when it lies inside an
    input folder. A file named on the command line is always taken.

Output names (`plan_jobs`)
    ``OUT/<relative folder>/<stem>.x<scale><suffix>``, where the relative folder is the file's place below the
    input folder it was found in (files named directly go to ``OUT`` itself). Inputs that would share an
    output (``scan.001`` and ``scan.002``, NanoScope's numbered files) keep their whole name instead:
    ``scan.001.x4.gwy``. Single-channel formats get their maps in sibling files (`scansr.enhance.write_enhanced`).

Resuming (manifests)
    Beside each output lies a manifest ``<output name>.scansr.json`` that records the input's SHA-256, the
    model's (SHA-256 of its ``config.json`` and weights), the scale, the enhancement and reading options, the
    output format and the files written. A job first writes the manifest in state ``"running"``, then its
    outputs (each written atomically: a file that exists is complete), then the manifest in state
    ``"complete"``. A rerun skips a job whose manifest is complete, has the same key and whose files all
    exist; it redoes (and replaces) the outputs of a job whose manifest differs (another model, scale, option
    or a changed input) or was left ``"running"`` by a killed job. An output that exists without a manifest
    was not written by a batch: it is left alone (the job fails) unless ``force=True``, which also redoes every
    complete job.

Running (`run_jobs`)
    - ``workers=1``: one after the other in this process.
    - ``workers=N``: N local processes (``ProcessPoolExecutor``, spawn start method), each with
      ``torch.set_num_threads(max(1, cores // N))`` (or `BatchSettings.threads`). The model is loaded once per
      process (`scansr.enhance`'s model cache). A process that dies (out of memory, a crash) breaks the pool:
      the jobs it took down are run again in a new pool, up to `retries` times.
    - ``dask=True``: one Dask task per file on a ``distributed`` cluster: `scheduler` is the address of a
      running scheduler (``tcp://host:8786``) or a ``distributed.Client``; without it a ``LocalCluster`` of
      `workers` processes starts and stops with the batch. Tasks are idempotent (atomic writes; the manifest
      check runs again in the task), so a task that is run twice gives the same files. When a worker is lost
      the scheduler runs its tasks again elsewhere; a task whose workers died more than `retries` times (the
      local cluster's ``distributed.scheduler.allowed-failures``; a remote scheduler's own setting, default
      3) fails with ``KilledWorker``, and a task that raises is retried `retries` times. The input files, the
      output folder and the model folder must be visible at the same paths on every worker (a shared file
      system), and scansr must be installed there.

A file that fails (unreadable, refused by `enhance`, a crash) does not stop the batch: its `JobResult` holds the
error in one line, and `BatchResult.failed` lists them.

This module imports only the standard library at import time (`scansr.io` when it looks for scans); torch is
imported by `scansr.enhance` inside the jobs, Dask only for ``dask=True``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import fnmatch
import hashlib
import json
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ENHANCE_OPTIONS",
    "MANIFEST_SUFFIX",
    "STATUSES",
    "BatchResult",
    "BatchSettings",
    "Job",
    "JobResult",
    "ScanFile",
    "check_settings",
    "file_sha256",
    "find_scans",
    "is_scan_file",
    "output_is_complete",
    "plan_jobs",
    "process_job",
    "run_batch",
    "run_jobs",
    "summarise",
]

logger = logging.getLogger(__name__)

#: Suffix appended to an output's name to name its manifest.
MANIFEST_SUFFIX = ".scansr.json"
_MANIFEST_FORMAT = "scansr-enhance-output"
_MANIFEST_VERSION = 1
#: Keyword options of `scansr.enhance.enhance` that a batch passes through (and records in the manifests).
ENHANCE_OPTIONS = (
    "channels",
    "other_channels",
    "tta",
    "back_projection",
    "uncertainty",
    "consistency",
    "downsample",
    "beyond_clip",
    "row_offsets",
    "tile",
    "overlap",
)
#: What became of a job.
STATUSES = ("done", "skipped", "failed")
_HEAD_BYTES = 4096
_DEFAULT_MODEL = "default"  # scansr.enhance.DEFAULT_MODEL
# Suffixes that many non-scan files share: such a file is taken only when a reader's sniffer recognises it.
_SNIFFED = (".txt", ".asc", ".csv", ".xyz", ".dat")
_CHUNK = 1 << 20


# ------------------------------------------------------------------------------------------------ types
@dataclass(frozen=True)
class ScanFile:
    """A scan found by `find_scans`.

    Attributes
    ----------
    path : Path
        The file.
    relative : Path
        Its place below the input folder it was found in (its name for a file given directly): the output
        mirrors it.
    """

    path: Path
    relative: Path


@dataclass(frozen=True)
class Job:
    """One file to enhance.

    Attributes
    ----------
    source : Path
        The input scan.
    output : Path
        The main output file (its manifest is ``output`` + `MANIFEST_SUFFIX`).
    """

    source: Path
    output: Path


@dataclass(frozen=True)
class BatchSettings:
    """What every job of a batch does (the CLI maps its flags onto this).

    Parameters
    ----------
    scale : int
        Upscaling factor (one of the model's scales).
    model : str
        ``"default"`` or a model folder, visible at this path to every worker.
    suffix : str
        Output format, e.g. ``".gwy"`` (see `scansr.io.write`).
    enhance : mapping
        Keyword options of `scansr.enhance.enhance` (keys from `ENHANCE_OPTIONS`), JSON values.
    read : mapping
        Keyword options of `scansr.io.read` (``frame``, ``scan_size``, ``value_unit``), JSON values.
    force : bool
        Redo every job, complete or not, and replace its outputs, also outputs that exist without a manifest
        (files a batch did not write).
    device : str, optional
        Torch device of the network (default: CUDA when available, else the CPU).
    threads : int, optional
        ``torch.set_num_threads`` in the process that runs a job (default: as `run_jobs` chooses).
    model_sha256 : str, optional
        Fingerprint of the model's files, filled in by `check_settings`.
    """

    scale: int
    model: str = "default"
    suffix: str = ".gwy"
    enhance: Mapping[str, Any] = field(default_factory=dict)
    read: Mapping[str, Any] = field(default_factory=dict)
    force: bool = False
    device: str | None = None
    threads: int | None = None
    model_sha256: str | None = None

    def key_record(self) -> dict[str, Any]:
        """Return the settings that determine the outputs (hashed with the input's SHA-256 into each job's key)."""
        return {
            "model_sha256": self.model_sha256,
            "scale": self.scale,
            "suffix": self.suffix,
            "enhance": _canonical(self.enhance),
            "read": _canonical(self.read),
        }


@dataclass(frozen=True)
class JobResult:
    """What became of one job.

    Attributes
    ----------
    source, output : str
        The input and the main output file.
    status : {"done", "skipped", "failed"}
        ``"skipped"``: the output was complete already.
    error : str or None
        One line saying why the job failed.
    files : tuple of str
        Files written (the main output first, then the maps' sibling files).
    seconds : float
        Wall time of the job.
    """

    source: str
    output: str
    status: str
    error: str | None = None
    files: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class BatchResult:
    """The results of every job, in the order of the jobs."""

    results: tuple[JobResult, ...]

    def _with(self, status: str) -> tuple[JobResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    @property
    def done(self) -> tuple[JobResult, ...]:
        """Jobs that wrote their outputs."""
        return self._with("done")

    @property
    def skipped(self) -> tuple[JobResult, ...]:
        """Jobs whose outputs were complete already."""
        return self._with("skipped")

    @property
    def failed(self) -> tuple[JobResult, ...]:
        """Jobs that failed (`JobResult.error` says why)."""
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """Whether no job failed."""
        return not self.failed


# ------------------------------------------------------------------------------------------------ finding
def _readable_suffix(name: str) -> str | None:
    """Return the suffix of `name` that a reader of `scansr.io.FORMATS` claims, or None."""
    from scansr.io import FORMATS

    lower = name.lower()
    suffix = os.path.splitext(lower)[1]
    for f in FORMATS.values():
        if f.read is None:
            continue
        for s in f.suffixes:
            if s.startswith("re:"):
                if f.matches_suffix(suffix):
                    return suffix
            elif lower.endswith(s) and len(lower) > len(s):
                return s
    return None


def is_scan_file(path: str | Path) -> bool:
    """Whether `path` looks like a scan that scansr reads (by suffix; text files also by their content).

    Parameters
    ----------
    path : str or Path
        A file.

    Returns
    -------
    bool
        False for folders, hidden files, unknown suffixes and text files that no reader recognises.
    """
    from scansr.io import FORMATS

    path = Path(path)
    if path.name.startswith(".") or not path.is_file():
        return False
    suffix = _readable_suffix(path.name)
    if suffix is None:
        return False
    if suffix not in _SNIFFED:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return False
    return any(f.read and f.sniff and f.sniff(head, suffix) for f in FORMATS.values())


def _listed_outputs(folder: Path) -> set[str]:
    """Names of the files that the manifests in `folder` list (outputs of earlier batches)."""
    names: set[str] = set()
    try:
        manifests = [p for p in folder.iterdir() if p.name.endswith(MANIFEST_SUFFIX)]
    except OSError:
        return names
    for m in manifests:
        record = _load_manifest(m)
        if record is not None:
            names.update(Path(f).name for f in record.get("files", []))
            names.add(m.name[: -len(MANIFEST_SUFFIX)])
    return names


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def find_scans(
    inputs: str | Path | Sequence[str | Path],
    *,
    recursive: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str | Path] = (),
) -> list[ScanFile]:
    """Find the scans among `inputs` (files and folders) as the module notes say.

    Parameters
    ----------
    inputs : path or sequence of paths
        Files (always taken) and folders (searched).
    recursive : bool
        Search the sub-folders of the folders too.
    include : sequence of str
        Shell patterns on file names (``"*.spm"``, ``"*_Height*"``): a file found in a folder must match one
        of them (default: every scan).
    exclude : sequence of paths
        Folders to leave out (e.g. the output folder, when it lies inside an input folder).

    Returns
    -------
    list of ScanFile
        In the order of `inputs`, each folder's files sorted by path; a file found twice is listed once.

    Raises
    ------
    ScanReadError
        An input that does not exist.
    ValueError
        No input given.
    """
    from scansr.scan import ScanReadError

    if isinstance(inputs, str | Path):
        inputs = [inputs]
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise ValueError("no input given: name scan files or folders")
    if isinstance(include, str) or not all(isinstance(p, str) for p in include):
        raise ValueError(
            f"include must be a sequence of file-name patterns such as ['*.spm'], got {include!r}"
        )
    excluded = [Path(p).resolve() for p in exclude]
    found: list[ScanFile] = []
    seen: set[Path] = set()

    def add(path: Path, relative: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(ScanFile(path, relative))

    for item in inputs:
        if item.is_file():
            add(item, Path(item.name))
            continue
        if not item.is_dir():
            raise ScanReadError(item, "no such file or folder")
        root = item.resolve()
        skip = [e for e in excluded if e != root and _is_within(e, root)]
        for folder, dirs, files in os.walk(item):
            here = Path(folder)
            dirs[:] = sorted(
                d for d in dirs if recursive and not d.startswith(".") and (here / d).resolve() not in skip
            )
            listed = _listed_outputs(here)
            for name in sorted(files):
                path = here / name
                if name in listed or (include and not any(fnmatch.fnmatch(name, p) for p in include)):
                    continue
                if not is_scan_file(path):
                    continue
                add(path, path.relative_to(item))
    return found


# ------------------------------------------------------------------------------------------------ planning
def _normalise_suffix(suffix: str) -> str:
    from scansr.io import FORMATS

    if not isinstance(suffix, str) or not suffix.strip(". "):
        raise ValueError(f"suffix must be an output format such as '.gwy', got {suffix!r}")
    s = suffix.strip().lower()
    s = s if s.startswith(".") else f".{s}"
    writable = sorted({x for f in FORMATS.values() if f.write for x in f.suffixes if not x.startswith("re:")})
    if s not in writable:
        raise ValueError(f"output format must be one of {writable}, got {suffix!r}")
    return s


def plan_jobs(
    files: Sequence[ScanFile], out_dir: str | Path, *, scale: int, suffix: str = ".gwy"
) -> list[Job]:
    """Name the output of each scan below `out_dir`, mirroring the input tree (see the module notes).

    Parameters
    ----------
    files : sequence of ScanFile
        From `find_scans`.
    out_dir : str or Path
        The output folder.
    scale : int
        Upscaling factor (part of the names: ``<stem>.x<scale><suffix>``).
    suffix : str
        Output format.

    Returns
    -------
    list of Job
        One per file, in order, with absolute paths.

    Raises
    ------
    ValueError
        Two inputs that still share an output name with their whole names (the same relative path below two
        input folders), an output that would be an input file, or a bad `suffix`.
    """
    suffix = _normalise_suffix(suffix)
    out_dir = Path(out_dir)

    def target(f: ScanFile, whole: bool) -> Path:
        base = f.relative.name if whole else Path(f.relative.name).stem
        return out_dir / f.relative.parent / f"{base}.x{scale}{suffix}"

    first = [target(f, False) for f in files]
    counts = Counter(first)
    outputs = [target(f, True) if counts[o] > 1 else o for f, o in zip(files, first, strict=True)]
    by_output: dict[Path, list[Path]] = defaultdict(list)
    for f, o in zip(files, outputs, strict=True):
        by_output[o].append(f.path)
    clashes = {o: p for o, p in by_output.items() if len(p) > 1}
    if clashes:
        o, paths = next(iter(clashes.items()))
        raise ValueError(
            f"{len(paths)} inputs would be written to the same output {o} ({', '.join(map(str, paths))}): "
            "give their common parent folder instead, or enhance them into separate output folders"
        )
    inputs = {f.path.resolve() for f in files}
    for o in outputs:
        if o.resolve() in inputs:
            raise ValueError(f"the output {o} would replace an input file; choose another output folder")
    # Absolute paths: a Dask worker may run in another working folder.
    return [Job(f.path.absolute(), o.absolute()) for f, o in zip(files, outputs, strict=True)]


# ------------------------------------------------------------------------------------------------ settings
def _canonical(value: Any) -> Any:
    """`value` as plain JSON (tuples become lists); raise ValueError if it is not JSON-serialisable."""
    try:
        return json.loads(json.dumps(value, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError):
        raise ValueError(
            f"options must be JSON values (str, number, bool, list, dict), got {value!r}"
        ) from None


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 of the file's bytes, as 64 hexadecimal digits.

    Raises
    ------
    OSError
        If the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _model_folder(model: str) -> Path:
    from scansr.enhance import default_model_folder

    if model == _DEFAULT_MODEL:
        return default_model_folder()  # raises ModelLoadError (naming what to pass) when none is installed
    return Path(model)


def check_settings(settings: BatchSettings) -> BatchSettings:
    """Check `settings` before any job runs; return them with the suffix normalised and the model fingerprinted.

    Reads the model's ``config.json`` (no torch): the scale must be one of its scales.

    Parameters
    ----------
    settings : BatchSettings
        As given.

    Returns
    -------
    BatchSettings
        With ``suffix`` lower case with its dot and ``model_sha256`` set.

    Raises
    ------
    ValueError
        Bad scale, suffix, option name or value (the message names the valid choices).
    ModelLoadError
        The model folder is missing or holds no scansr model (or no default model is installed).
    """
    if not isinstance(settings, BatchSettings):
        raise ValueError(f"settings must be BatchSettings, got {type(settings).__name__}")
    scale = settings.scale
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale!r}")
    unknown = sorted(set(settings.enhance) - set(ENHANCE_OPTIONS))
    if unknown:
        raise ValueError(f"enhance options {unknown} are not among {ENHANCE_OPTIONS}")
    if settings.threads is not None and (not isinstance(settings.threads, int) or settings.threads < 1):
        raise ValueError(f"threads must be a positive integer, got {settings.threads!r}")
    enhance_options = _canonical(dict(settings.enhance))
    read_options = _canonical(dict(settings.read))
    if not isinstance(settings.model, str) or not settings.model.strip():
        raise ValueError(f"model must be 'default' or a model folder, got {settings.model!r}")
    folder = _model_folder(settings.model)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        digest = hashlib.sha256()
        for name in ("config.json", "model.safetensors"):
            digest.update(file_sha256(folder / name).encode())
    except (OSError, ValueError) as exc:
        from scansr.models import ModelLoadError  # torch: only on this error path

        raise ModelLoadError(folder, f"not a readable scansr model folder ({exc})") from None
    scales = config.get("scales") if isinstance(config, dict) else None
    if isinstance(scales, list) and scale not in scales:
        raise ValueError(
            f"scale must be one of {tuple(scales)} (the scales of model {folder}), got {scale!r}"
        )
    return dataclasses.replace(
        settings,
        suffix=_normalise_suffix(settings.suffix),
        enhance=enhance_options,
        read=read_options,
        model=str(folder.absolute()) if settings.model != _DEFAULT_MODEL else settings.model,
        model_sha256=digest.hexdigest(),
    )


# ------------------------------------------------------------------------------------------------ manifests
def _manifest_path(output: Path) -> Path:
    return output.with_name(output.name + MANIFEST_SUFFIX)


def _load_manifest(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != _MANIFEST_FORMAT:
        return None
    return record


def _job_key(input_sha256: str, settings: BatchSettings) -> str:
    record = {"input_sha256": input_sha256, **settings.key_record()}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _complete(record: dict[str, Any] | None, key: str, output: Path) -> bool:
    if record is None or record.get("state") != "complete" or record.get("key") != key:
        return False
    files = record.get("files") or []
    return bool(files) and all((output.parent / Path(f).name).is_file() for f in files)


def output_is_complete(job: Job, settings: BatchSettings) -> bool:
    """Whether `job`'s outputs exist and were made from this input with these settings (the rerun skips it).

    Parameters
    ----------
    job : Job
        From `plan_jobs`.
    settings : BatchSettings
        From `check_settings` (with the model's fingerprint).

    Returns
    -------
    bool
        False also when the input cannot be read.
    """
    record = _load_manifest(_manifest_path(Path(job.output)))
    if record is None:
        return False
    try:
        digest = file_sha256(job.source)
    except OSError:
        return False
    return _complete(record, _job_key(digest, settings), Path(job.output))


def _write_manifest(output: Path, record: dict[str, Any]) -> None:
    from scansr._atomic import atomic_write_text

    atomic_write_text(_manifest_path(output), json.dumps(record, indent=1, sort_keys=True) + "\n")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ------------------------------------------------------------------------------------------------ one job
def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def process_job(job: Job, settings: BatchSettings) -> JobResult:
    """Enhance one scan into its output, unless its output is complete already; never raises for the file.

    The task that local workers and Dask run: idempotent (outputs and manifest are written atomically, the
    completeness check runs first), so running it twice gives the same files.

    Parameters
    ----------
    job : Job
        Input and output.
    settings : BatchSettings
        From `check_settings`.

    Returns
    -------
    JobResult
        ``"done"``, ``"skipped"`` (complete already) or ``"failed"`` with the error in one line.
    """
    import scansr

    start = time.perf_counter()
    source, output = Path(job.source), Path(job.output)
    claimed = False
    record: dict[str, Any] = {}

    def result(status: str, error: str | None = None, files: Sequence[Path] = ()) -> JobResult:
        return JobResult(
            str(source), str(output), status, error, tuple(map(str, files)), time.perf_counter() - start
        )

    try:
        digest = file_sha256(source)
        key = _job_key(digest, settings)
        previous = _load_manifest(_manifest_path(output))
        if not settings.force and _complete(previous, key, output):
            return result("skipped")
        if previous is None and output.exists() and not settings.force:
            from scansr.scan import OutputExistsError

            raise OutputExistsError(
                output,
                "exists already and no batch manifest says it is scansr's; pass force (--force) to replace it",
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "format": _MANIFEST_FORMAT,
            "version": _MANIFEST_VERSION,
            "state": "running",
            "key": key,
            "input": str(source.resolve()),
            "input_sha256": digest,
            "model": settings.model,
            **settings.key_record(),
            "files": [],
            "scansr_version": scansr.__version__,
            "host": os.uname().nodename if hasattr(os, "uname") else "",
        }
        _write_manifest(output, record)
        claimed = True

        from scansr import io
        from scansr.enhance import enhance, write_enhanced

        _set_threads(settings.threads)
        scan = io.read(source, **settings.read)
        enhanced = enhance(
            scan, scale=settings.scale, model=settings.model, device=settings.device, **settings.enhance
        )
        files = write_enhanced(enhanced, output, force=True)
        names = {p.name for p in files}
        for stale in (previous or {}).get("files", []):  # maps an earlier run wrote and this one does not
            if Path(stale).name not in names:
                with contextlib.suppress(OSError):
                    (output.parent / Path(stale).name).unlink()
        record.update(
            state="complete",
            files=[p.name for p in files],
            seconds=round(time.perf_counter() - start, 3),
        )
        _write_manifest(output, record)
        return result("done", files=files)
    except Exception as exc:  # one file's failure must not stop the batch
        message = _one_line(exc)
        logger.debug("job %s failed", source, exc_info=True)
        if claimed:
            with contextlib.suppress(Exception):
                _write_manifest(output, {**record, "state": "failed", "error": message})
        return result("failed", message)


def _failed(job: Job, message: str) -> JobResult:
    return JobResult(str(job.source), str(job.output), "failed", message)


# ------------------------------------------------------------------------------------------------ running
def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    _set_threads(threads)


def _check_count(value: object, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{what} must be an integer >= {low}, got {value!r}")
    return value


def run_jobs(
    jobs: Sequence[Job],
    settings: BatchSettings,
    *,
    workers: int = 1,
    dask: bool = False,
    scheduler: Any = None,
    retries: int = 2,
    progress: bool = False,
) -> BatchResult:
    """Run `jobs` serially, on local processes or on Dask (see the module notes).

    Parameters
    ----------
    jobs : sequence of Job
        From `plan_jobs`.
    settings : BatchSettings
        From `check_settings`.
    workers : int
        Local processes (1: in this process); with `dask` and no `scheduler`, the local cluster's workers.
    dask : bool
        Run on Dask distributed (implied by `scheduler`).
    scheduler : str or distributed.Client, optional
        A scheduler's address or a connected client (default with `dask`: a ``LocalCluster``).
    retries : int
        How often a job is run again after its worker died (or, on Dask, after it raised).
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    BatchResult
        One `JobResult` per job, in the order of `jobs`.

    Raises
    ------
    ValueError
        Bad `workers` or `retries`.
    ImportError
        `dask` asked for and ``distributed`` is not installed.
    """
    workers = _check_count(workers, "workers", 1)
    retries = _check_count(retries, "retries", 0)
    if settings.model_sha256 is None:
        settings = check_settings(settings)
    dask = dask or scheduler is not None
    from tqdm.auto import tqdm

    by_job: dict[int, JobResult] = {}
    bar = tqdm(total=len(jobs), disable=not progress, unit="scan", desc=f"enhance ×{settings.scale}")
    counts: Counter[str] = Counter()

    def record(index: int, r: JobResult) -> None:
        by_job[index] = r
        counts[r.status] += 1
        if r.status == "failed":
            logger.warning("%s: %s", r.source, r.error)
        bar.update(1)
        bar.set_postfix({k: counts[k] for k in STATUSES if counts[k]}, refresh=False)

    try:
        todo = []
        for i, job in enumerate(jobs):  # cheap pre-check: a resumed batch starts no worker for finished files
            if not settings.force and output_is_complete(job, settings):
                record(i, JobResult(str(job.source), str(job.output), "skipped"))
            else:
                todo.append(i)
        if not todo:
            pass
        elif dask:
            _run_dask(jobs, todo, settings, scheduler, workers, retries, record)
        elif workers == 1:
            for i in todo:
                record(i, process_job(jobs[i], settings))
        else:
            _run_pool(jobs, todo, settings, workers, retries, record)
    finally:
        bar.close()
    return BatchResult(tuple(by_job[i] for i in range(len(jobs))))


def _run_pool(
    jobs: Sequence[Job],
    todo: list[int],
    settings: BatchSettings,
    workers: int,
    retries: int,
    record: Callable[[int, JobResult], None],
) -> None:
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    threads = settings.threads or max(1, _cores() // workers)
    context = multiprocessing.get_context("spawn")
    deaths: Counter[int] = Counter()
    pending = list(todo)
    while pending:
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=min(workers, len(pending)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(threads,),
        )
        try:
            futures = {pool.submit(process_job, jobs[i], settings): i for i in pending}
            pending = []
            for future in concurrent.futures.as_completed(futures):
                i = futures[future]
                try:
                    record(i, future.result())
                except BrokenProcessPool:
                    deaths[i] += 1
                    if deaths[i] > retries:
                        record(
                            i, _failed(jobs[i], f"a worker process died {deaths[i]} times (out of memory?)")
                        )
                    else:
                        pending.append(i)
                except Exception as exc:  # e.g. the job could not be sent to the process
                    record(i, _failed(jobs[i], _one_line(exc)))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if pending:
            logger.warning("a worker process died: running %d job(s) again in a new pool", len(pending))


def _run_dask(
    jobs: Sequence[Job],
    todo: list[int],
    settings: BatchSettings,
    scheduler: Any,
    workers: int,
    retries: int,
    record: Callable[[int, JobResult], None],
) -> None:
    try:
        import dask
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ImportError(
            "running on Dask needs the 'distributed' package: pip install 'scansr[cluster]' "
            f"(or pip install 'dask[distributed]'): {exc}"
        ) from None
    import uuid

    owned: list[Any] = []
    chatty = logging.getLogger(
        "distributed"
    )  # the local scheduler logs every worker's start and stop at INFO
    level = chatty.level
    if not logger.isEnabledFor(logging.INFO):
        chatty.setLevel(logging.WARNING)
    try:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler is not None:
            client = Client(scheduler)
            owned.append(client)
        else:
            with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # a free port: batches running side by side do not clash
                    silence_logs=logging.WARNING,
                )
            owned.append(cluster)
            logger.info("local Dask cluster of %d workers; dashboard %s", workers, cluster.dashboard_link)
            client = Client(cluster)
            owned.append(client)
            if settings.threads is None:
                settings = dataclasses.replace(settings, threads=max(1, _cores() // workers))
        token = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                process_job,
                jobs[i],
                settings,
                key=f"scansr-enhance-{token}-{i}",
                pure=False,
                retries=retries,
            ): i
            for i in todo
        }
        for future in as_completed(futures):
            i = futures[future]
            try:
                record(i, future.result())
            except Exception as exc:  # KilledWorker (its workers kept dying), a task that kept raising
                record(i, _failed(jobs[i], f"the task failed on the cluster: {_one_line(exc)}"))
    finally:
        for thing in reversed(owned):
            with contextlib.suppress(Exception):
                thing.close()
        chatty.setLevel(level)


def run_batch(
    inputs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    settings: BatchSettings,
    *,
    recursive: bool = False,
    include: Sequence[str] = (),
    workers: int = 1,
    dask: bool = False,
    scheduler: Any = None,
    retries: int = 2,
    progress: bool = False,
) -> BatchResult:
    """Find the scans among `inputs`, plan their outputs below `out_dir` and enhance them.

    Parameters
    ----------
    inputs : path or sequence of paths
        Scan files and folders (see `find_scans`).
    out_dir : str or Path
        Output folder (created if missing); it mirrors the input folders' trees.
    settings : BatchSettings
        Model, scale, format and options.
    recursive : bool
        Search sub-folders.
    include : sequence of str
        File-name patterns (see `find_scans`).
    workers, dask, scheduler, retries, progress
        As for `run_jobs`.

    Returns
    -------
    BatchResult

    Raises
    ------
    ValueError
        No scan found, clashing output names, bad settings.
    ScanReadError
        An input that does not exist.
    ModelLoadError
        The model folder is missing or not a model.
    ImportError
        `dask` asked for and ``distributed`` is not installed.
    """
    settings = check_settings(settings)
    out = Path(out_dir)
    files = find_scans(inputs, recursive=recursive, include=include, exclude=[out])
    if not files:
        names = [str(p) for p in ([inputs] if isinstance(inputs, str | Path) else inputs)]
        hint = "" if recursive else " (pass recursive=True / --recursive to search sub-folders)"
        raise ValueError(f"no readable scans found in {', '.join(names)}{hint}")
    jobs = plan_jobs(files, out, scale=settings.scale, suffix=settings.suffix)
    out.mkdir(parents=True, exist_ok=True)
    logger.info("%d scan(s) to enhance into %s", len(jobs), out)
    return run_jobs(
        jobs, settings, workers=workers, dask=dask, scheduler=scheduler, retries=retries, progress=progress
    )


def summarise(result: BatchResult) -> list[str]:
    """Lines that sum a batch up: the counts, then one line per failed file with its error."""
    lines = [
        f"{len(result.done)} enhanced, {len(result.skipped)} skipped (complete already), "
        f"{len(result.failed)} failed, of {len(result.results)} scans"
    ]
    lines += [f"  failed: {r.source}: {r.error}" for r in result.failed]
    return lines
