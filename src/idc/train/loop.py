"""The training loop: ``train(config, run_dir)``.

A run directory holds ``config.yaml`` (the resolved config), ``metrics.csv`` (step, loss terms, lr, it/s, crops/s,
validation PSNR/SSIM), ``curves.png``, TensorBoard events (when tensorboard is installed), ``checkpoints/``
(crash-safe, see :mod:`idc.train.checkpoint`; with ``ema``, each holds the average of the weights in ``ema/``) and
``best/`` (the weights with the best validation PSNR; with ``ema``, also ``best-ema/``, the best average).
"""

from __future__ import annotations

import csv
import logging
import math
import multiprocessing
import os
import signal
import time
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from idc.bench import device_name
from idc.configs import from_dict
from idc.data.datasets import find_pairs
from idc.evaluate import center_crop, read_pairs
from idc.losses import LossConfig, MixedLoss
from idc.metrics import psnr, ssim
from idc.models import IDC, IDCConfig, get_preset
from idc.train.checkpoint import EMA_FOLDER, latest_checkpoint, load_train_state, save_checkpoint
from idc.train.config import TrainConfig, dump_config
from idc.train.data import (
    EpochBatchSampler,
    build_dataset,
    collate,
    finish_batch,
    ignore_stop_signals,
    stop_signals_held,
)
from idc.train.ema import WeightEMA
from idc.train.schedule import get_lr
from idc.weights import load_model, save_weights, training_lineage, with_lineage

logger = logging.getLogger(__name__)

CSV_FIELDS = ["step", "loss", "l2", "ssim", "grad", "lr", "it_per_s", "crops_per_s", "data_wait"]
CSV_FIELDS += ["val_psnr", "val_ssim", "val_psnr_ema", "val_ssim_ema"]


class TrainingStopped(RuntimeError):
    """Training stopped early (signal, wall-time limit or repeated non-finite losses) after saving a checkpoint."""


def model_config(config: TrainConfig) -> IDCConfig:
    """The architecture: ``model.preset`` with the other ``model`` keys as field overrides."""
    fields = dict(config.model)
    base = get_preset(fields.pop("preset", "idc")).to_dict()
    base.update(fields)
    return IDCConfig.from_dict(base)


def _precision(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if config.precision == "fp32":
        return None
    if config.precision == "bf16":
        return torch.bfloat16
    if config.precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    cpu_flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return torch.bfloat16 if "avx512_bf16" in cpu_flags or "amx_bf16" in cpu_flags else None


def _device(config: TrainConfig, local_rank: int) -> torch.device:
    if config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device cuda was asked for, but no CUDA GPU is available")
    return torch.device("cuda", local_rank)


@torch.inference_mode()
def validate(model: IDC, config: TrainConfig, device: torch.device) -> dict[str, float] | None:
    """Mean PSNR/SSIM (uint8 convention) over a fixed subset of the validation set, in fp32."""
    if not config.val.data:
        return None
    root = Path(config.data.root) / config.val.data
    pairs = find_pairs(root, config.val.layout, config.val.split, config.val.blur_folder)[: config.val.count]
    was_training = model.training
    model.eval()
    scores = []
    for _, blurred, sharp in read_pairs(pairs):
        if config.val.crop:
            blurred, sharp = center_crop(blurred, config.val.crop), center_crop(sharp, config.val.crop)
        out = model(blurred[None].to(device))[-1][0].clamp(0, 1).float().cpu()
        scores.append((psnr(out, sharp), ssim(out, sharp)))
    model.train(was_training)
    return {"val_psnr": sum(s[0] for s in scores) / len(scores), "val_ssim": sum(s[1] for s in scores) / len(scores)}


def draw_curves(csv_path: Path, png_path: Path) -> None:
    """Plots training loss and validation PSNR against step into a PNG (Pillow only).

    The PSNR panel has the weights' PSNR in navy and, when the run averages its weights (``ema``), the average's in
    orange, on one scale.
    """
    from PIL import Image, ImageDraw

    rows = list(csv.DictReader(csv_path.read_text().splitlines()))

    def points(key: str) -> list[tuple[float, float]]:
        return [(float(r["step"]), float(r[key])) for r in rows if r.get(key)]

    averaged = points("val_psnr_ema")
    panels = {
        "loss": [("navy", points("loss"))],
        "val PSNR (dB)" + (": weights navy, their average orange" if averaged else ""): [
            ("navy", points("val_psnr")),
            ("darkorange", averaged),
        ],
    }
    w, h, pad = 640, 260, 40
    canvas = Image.new("RGB", (w, 2 * h), "white")
    draw = ImageDraw.Draw(canvas)
    for panel, (label, series) in enumerate(panels.items()):
        top = panel * h
        draw.rectangle([pad, top + 20, w - 10, top + h - pad], outline="black")
        draw.text((pad, top + 4), label, fill="black")
        every = [p for _, pts in series for p in pts]
        if len(every) < 1:
            continue
        xs, ys = [p[0] for p in every], [p[1] for p in every]
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1e-9
        draw.text((pad, top + h - pad + 4), f"step {x0:.0f}", fill="black")
        draw.text((w - 90, top + h - pad + 4), f"step {x1:.0f}", fill="black")
        draw.text((2, top + 22), f"{y1:.4g}", fill="black")
        draw.text((2, top + h - pad - 12), f"{y0:.4g}", fill="black")

        def to_px(x: float, y: float, top: int = top, x0: float = x0, x1: float = x1, y0: float = y0, y1: float = y1):
            px = pad + (x - x0) / (x1 - x0) * (w - 10 - pad)
            py = top + h - pad - (y - y0) / (y1 - y0) * (h - pad - 20)
            return px, py

        for colour, pts in series:
            coords = [to_px(x, y) for x, y in pts]
            if len(coords) > 1:
                draw.line(coords, fill=colour, width=2)
            for c in coords[-1:]:
                draw.ellipse([c[0] - 2, c[1] - 2, c[0] + 2, c[1] + 2], fill=colour)
    tmp = png_path.with_name(f".{png_path.name}.tmp.png")
    canvas.save(tmp)
    os.replace(tmp, png_path)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _batches(
    loader: DataLoader[Any], stop_reason: list[str], interrupted: list[bool], waited: list[float]
) -> Generator[Any, None, None]:
    """The loader's batches; once a stop was asked for, a loader failure ends them instead of the run.

    ``waited[0]`` accumulates the seconds spent waiting for them.

    ``timeout`` and a terminal's Ctrl-C signal the whole process group: loader workers ignore those signals
    (:func:`ignore_stop_signals`), but one killed anyway must not cost the checkpoint the stop is about to write.
    """
    start = time.perf_counter()
    before = set(multiprocessing.active_children())
    it = None
    try:
        with stop_signals_held():  # workers start deaf to them (see stop_signals_held)
            it = iter(loader)
        while True:
            try:
                batch = next(it)
                waited[0] += time.perf_counter() - start
            except StopIteration:
                return
            except RuntimeError as e:
                if not stop_reason:
                    raise
                logger.warning("data loader ended while stopping (%s); saving the checkpoint", e)
                interrupted.append(True)
                return
            yield batch
            start = time.perf_counter()
    finally:
        # Stop the workers now rather than when the iterator is collected, and kill any that outlive that (or that
        # an iterator failing while it was made started and could not hand back): see _end_leftover_processes.
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        _end_leftover_processes(before)


def _end_leftover_processes(before: set[BaseProcess]) -> None:
    """Kills the processes started since ``before`` that are still alive: loader workers the loader did not end.

    Workers ignore SIGTERM, so neither the loader's last resort (terminate) nor multiprocessing's exit-time one can
    end a worker that missed its stop message, and a worker still waiting for work when the interpreter exits hangs
    the exit-time join forever (seen once in a test).
    """
    for process in multiprocessing.active_children():
        if process not in before and process.is_alive():
            logger.warning("ending data loader worker %s left running", process.pid)
            process.kill()
            process.join(timeout=5)


# Steps checked for host synchronisations (CUDA only). Not the first ones, and several: cuDNN autotunes the blur for
# each new number of deferred samples in a batch, and that alone synchronises.
SYNC_CHECK_STEPS = range(3, 9)


@contextmanager
def host_syncs() -> Iterator[Callable[[], int]]:
    """Runs its block under CUDA's synchronisation debug mode; yields a function giving how many operations have
    made the host wait for the GPU so far (each blocking copy, ``.item()``, ``nonzero``...)."""
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield lambda: sum("synchroniz" in str(w.message) for w in caught)
        finally:
            torch.cuda.set_sync_debug_mode(previous)


class LossFlags:
    """Tells the host which steps had a non-finite loss without making it wait for the GPU.

    Each step's flag and loss are copied to pinned host memory behind that step's work and read once the copy has
    finished: on CUDA that is usually a step or two later, so the host keeps queueing work (it waits only when more
    than ``lag`` steps are unread); on a CPU, where the work is already done, at once. The update of a non-finite
    step never needs the host: the optimiser skips it on the device (``found_inf``).
    """

    def __init__(self, device: torch.device, lag: int = 2) -> None:
        self.cuda = device.type == "cuda"
        self.lag = lag
        self.pending: deque[tuple[int, torch.Tensor, torch.cuda.Event | None]] = deque()
        self.in_row = 0  # non-finite losses in a row among the steps read so far

    def push(self, step: int, bad: torch.Tensor, loss: torch.Tensor) -> None:
        """Records step ``step``: ``bad`` is 1.0 where its update is skipped, ``loss`` its loss (0-dim tensors)."""
        values = torch.stack([bad.detach().float(), loss.detach().float()])
        if not self.cuda:
            self.pending.append((step, values, None))
            return
        host = torch.empty(2, pin_memory=True)
        host.copy_(values, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.pending.append((step, host, event))

    def arrived(self, wait: bool = False) -> Iterator[tuple[int, bool, float]]:
        """(step, skipped, loss) of the recorded steps whose flags are on the host, oldest first; with ``wait``,
        of all of them."""
        while self.pending:
            step, host, event = self.pending[0]
            if event is not None and not event.query():
                if not wait and len(self.pending) <= self.lag:
                    return
                event.synchronize()
            self.pending.popleft()
            yield step, bool(host[0] > 0), float(host[1])

    def read(self, wait: bool = False) -> int:
        """Logs each arrived non-finite step (``wait``: all recorded ones); returns how many of the latest steps read
        were non-finite in a row."""
        for step, skipped, value in self.arrived(wait):
            self.in_row = self.in_row + 1 if skipped else 0
            if skipped:
                logger.warning("step %d: non-finite loss (%s); update skipped", step, value)
        return self.in_row


def _truncate_metrics(csv_path: Path, step: int) -> None:
    """Drops rows logged after ``step`` (the checkpoint a resume starts from): they would otherwise appear twice.
    A file written with other columns (an older version) is rewritten with the current ones."""
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    kept = [r for r in rows if r.get("step", "").isdigit() and int(r["step"]) <= step]
    if len(kept) == len(rows) and header == CSV_FIELDS:
        return
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in kept:
            writer.writerow({k: r.get(k, "") for k in CSV_FIELDS})
    os.replace(tmp, csv_path)


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Trains IDC as ``config`` says, writing everything into ``run_dir``; returns the last checkpoint folder.

    With ``resume`` the run continues from the newest complete checkpoint in ``run_dir`` exactly where it stopped:
    same schedule, optimiser state, data position and RNG states.

    Raises:
        TrainingStopped: a signal, the wall-time limit or repeated non-finite losses stopped it (state was saved).
    """
    run_dir = Path(run_dir)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(config, local_rank)
    distributed = world > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main_process = rank == 0
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    if config.batch % world:
        raise ValueError(f"batch {config.batch} must divide among {world} processes")

    torch.manual_seed(config.seed)
    model = IDC(model_config(config))
    if config.init_weights:
        model.load_state_dict(load_model(config.init_weights).state_dict())
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)  # type: ignore[call-overload]
    optim = config.optim
    # Fused Adam: one kernel for all parameters, and it skips a step on the device when told to (``found_inf``),
    # so a non-finite loss needs no host decision (LossFlags).
    opt = torch.optim.Adam(
        model.parameters(),
        lr=optim.lr,
        betas=(optim.betas[0], optim.betas[1]),
        weight_decay=optim.weight_decay,
        fused=True,
    )
    step, epoch, offset, best_psnr, best_ema_psnr = 0, 0, 0, -math.inf, -math.inf
    schedule_step = 0.0  # the learning-rate schedule's position: ``step``, or ahead of it with anneal_by_time
    checkpoints = run_dir / "checkpoints"
    # The average of the weights lives in the process that saves checkpoints (under DDP every process's weights are
    # the same).
    ema = WeightEMA(model, config.ema) if config.ema and main_process else None
    if resume:
        found = latest_checkpoint(checkpoints)
        if found is None:
            raise ValueError(f"{checkpoints}: no complete checkpoint to resume from")
        state = load_train_state(found)
        model.load_state_dict(load_model(found).state_dict())
        opt.load_state_dict(state["optimizer"])
        step, epoch, offset = int(state["step"]), int(state["epoch"]), int(state["offset"])
        best_psnr = float(state.get("best_psnr", -math.inf))
        best_ema_psnr = float(state.get("best_ema_psnr", -math.inf))
        schedule_step = float(state.get("schedule_step", step))
        _set_rng_state(state["rng"])
        logger.info("resumed from %s at step %d", found, step)
        if ema is not None:
            if (found / EMA_FOLDER).is_dir() and "ema_updates" in state:
                ema.load(load_model(found / EMA_FOLDER), int(state["ema_updates"]))
                if float(state.get("ema_decay", config.ema)) != config.ema:
                    logger.warning(
                        "the checkpoint's weight average had decay %s; it goes on with %s",
                        state.get("ema_decay"), config.ema,
                    )  # fmt: skip
            else:
                logger.info("%s holds no average of the weights; the average starts at step %d", found, step)

    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(dump_config(config))
    net: torch.nn.Module = model
    if distributed:
        ids = [local_rank] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if config.compile:
        net = torch.compile(net)  # type: ignore[assignment]
    loss_fn = MixedLoss(from_dict(LossConfig, config.loss, "loss: "))
    amp_dtype = _precision(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16 and device.type == "cuda")
    built = build_dataset(config.data, config.seed, defer_degradation=device.type == "cuda")
    dataset = built.dataset

    csv_path = run_dir / "metrics.csv"
    writer = None
    if main_process:
        new_csv = not csv_path.exists() or not resume
        if not new_csv:
            _truncate_metrics(csv_path, step)
        csv_file = open(csv_path, "w" if new_csv else "a", newline="")  # noqa: SIM115
        writer = csv.DictWriter(csv_file, fieldnames=CSV_FIELDS)
        if new_csv:
            writer.writeheader()
    tb = None
    if main_process and config.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            logger.warning("tensorboard is not installed (pip install tensorboard); skipping its events")

    stop_reason: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop_reason.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    # Runs that start from earlier weights record what those weights went through (accumulated training).
    lineage = training_lineage(config.init_weights) if config.init_weights else []
    recipe = {
        "crop": config.data.crop,
        "lr": config.optim.lr,
        "schedule": f"{config.optim.schedule}, {config.optim.warmup} warm-up steps, to {config.optim.min_lr} "
        + (
            f"over {config.max_minutes} min (annealed on the clock, at most {config.steps} steps)"
            if config.anneal_by_time
            else f"over {config.steps} steps"
        ),
        "precision": str(amp_dtype).removeprefix("torch.") if amp_dtype else "fp32",
        "hardware": f"{device_name(device)} x {world}" if world > 1 else device_name(device),
        "seed": config.seed,
        "init": config.init_weights or "Xavier" + (", last Fusion conv zero" if model.config.zero_init_output else ""),
    }

    trained_on = "; ".join(
        f"{src.kind} ({', '.join(str(Path(config.data.root) / path) for path in src.paths)})"
        for src in config.data.sources
    )

    def meta() -> dict[str, Any]:
        training: dict[str, Any] = {
            "steps": step,
            "batch": config.batch,
            "crops_seen": step * config.batch,
            "run": str(run_dir),
            **recipe,
        }
        if lineage:
            training = with_lineage(training, lineage)
        return {"description": f"IDC training run {config.name}", "trained_on": trained_on, "training": training}

    def ema_meta() -> dict[str, Any]:
        assert ema is not None
        record = meta()
        record["description"] += f", exponential moving average of the weights (decay {ema.decay})"
        record["training"] = record["training"] | {"ema": {"decay": ema.decay, "steps_averaged": ema.updates}}
        return record

    def checkpoint() -> Path | None:
        if not main_process:
            return None
        state = {
            "step": step,
            "epoch": epoch,
            "offset": offset,
            "best_psnr": best_psnr,
            "best_ema_psnr": best_ema_psnr,
            "schedule_step": schedule_step,
            "optimizer": opt.state_dict(),
            "rng": _rng_state(),
        }
        if ema is not None:
            state |= {"ema_updates": ema.updates, "ema_decay": ema.decay}
        return save_checkpoint(
            checkpoints,
            model,
            state,
            meta(),
            config.keep_checkpoints,
            config.keep_every,
            ema.model if ema is not None else None,
            ema_meta() if ema is not None else None,
        )

    bar = tqdm(total=config.steps, initial=step, desc="train", unit="step", disable=not (progress and main_process))
    sums: dict[str, float | torch.Tensor] = {"loss": 0.0, "l2": 0.0, "ssim": 0.0, "grad": 0.0}
    count: float | torch.Tensor = 0.0  # steps summed since the last logged row (finite ones only)
    interval_start = time.perf_counter()
    flags = LossFlags(device)
    taken = 0  # steps taken by this process (the sync check counts from here)
    syncs_seen: list[tuple[int, int]] = []  # (preparing the batch, whole step) for each of SYNC_CHECK_STEPS
    waited = [0.0]  # seconds waiting for data (loader and on-device degradation) since the last logged row
    run_start = time.perf_counter()
    schedule_start = schedule_step
    last_ckpt: Path | None = None
    per_rank = config.batch // world
    net.train()
    batches: Generator[Any, None, None] | None = None
    try:
        while step < config.steps and not stop_reason:
            dataset.set_epoch(epoch)
            sampler = EpochBatchSampler(len(dataset), config.batch, config.seed, epoch, offset, rank, world)
            loader = DataLoader(
                dataset,
                batch_sampler=sampler,
                num_workers=config.data.workers,
                collate_fn=collate,
                pin_memory=device.type == "cuda",
                worker_init_fn=ignore_stop_signals if config.data.workers else None,
            )
            exhausted = True
            interrupted: list[bool] = []
            batches = _batches(loader, stop_reason, interrupted, waited)
            for batch in batches:
                ready = time.perf_counter()
                sync_check = ExitStack()  # counts host synchronisations on a few steps (CUDA only)
                synced = (
                    sync_check.enter_context(host_syncs())
                    if device.type == "cuda" and taken in SYNC_CHECK_STEPS
                    else None
                )
                blurred, sharp = finish_batch(batch, built.deferred, config.data.crop, device)
                preparing_syncs = synced() if synced else 0
                waited[0] += time.perf_counter() - ready
                blurred = blurred.contiguous(memory_format=memory_format)
                if config.anneal_by_time and config.max_minutes:
                    used = (time.perf_counter() - run_start) / (60 * config.max_minutes)
                    on_clock = schedule_start + min(1.0, used) * (config.steps - schedule_start)
                    schedule_step = max(schedule_step, on_clock)
                lr = get_lr(int(schedule_step), config.steps, optim)
                for group in opt.param_groups:
                    group["lr"] = lr
                autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext()
                with autocast:
                    estimates = net(blurred)
                loss, terms = loss_fn([e.float() for e in estimates], sharp)
                bad = (~torch.isfinite(loss.detach())).float()
                if distributed:
                    dist.all_reduce(bad, op=dist.ReduceOp.MAX)
                opt.zero_grad(set_to_none=True)
                # Backward runs whatever the loss; a non-finite one gives non-finite gradients, and the update is
                # skipped on the device: by the optimiser where ``bad`` is 1 (or, in fp16, by the GradScaler, which
                # finds the same in the gradients). Reading ``bad`` here would make the host wait for the GPU.
                scaler.scale(loss).backward()
                if optim.clip > 0:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), optim.clip)
                if not scaler.is_enabled():
                    opt.found_inf = bad  # type: ignore[attr-defined]
                scaler.step(opt)
                scaler.update()
                if ema is not None:
                    ema.update()  # a skipped step adds unchanged weights: no host decision needed
                # Summed on the device and read once per logged row: a read per step would stall the GPU queue.
                skipped = bad > 0
                sums["loss"] += torch.where(skipped, 0.0, loss.detach())
                for k in ("l2", "ssim", "grad"):
                    term = terms[k]
                    sums[k] += torch.where(skipped, 0.0, term.detach()) if isinstance(term, torch.Tensor) else term
                count += 1 - bad
                flags.push(step, bad, loss)
                if flags.read() >= config.max_bad_steps and not stop_reason:
                    stop_reason.append(f"{flags.in_row} non-finite losses in a row")
                if synced is not None:
                    syncs_seen.append((preparing_syncs, synced()))
                    sync_check.close()
                    if taken == SYNC_CHECK_STEPS[-1]:
                        # A synchronisation makes the host wait for the GPU's queue, and then the GPU wait for the host.
                        slow = min(p for p, _ in syncs_seen) > 0 or min(w for _, w in syncs_seen) > 0
                        (logger.warning if slow else logger.info)(
                            "host synchronisations on %s, steps %d-%d of this process (preparing the batch, whole "
                            "step; 0 and 0 expected): %s",
                            device, SYNC_CHECK_STEPS[0], SYNC_CHECK_STEPS[-1], syncs_seen,
                        )  # fmt: skip
                taken += 1
                step += 1
                schedule_step += 1
                offset += config.batch
                bar.update(1)
                row: dict[str, Any] | None = None
                if step % config.log_every == 0 or step == config.steps:
                    elapsed = time.perf_counter() - interval_start
                    n = max(float(count), 1.0)
                    steps_done = config.log_every if step % config.log_every == 0 else step % config.log_every
                    row = {k: float(sums[k]) / n for k in sums} | {
                        "step": step,
                        "lr": lr,
                        "it_per_s": steps_done / elapsed,
                        "crops_per_s": steps_done * per_rank * world / elapsed,
                        "data_wait": waited[0] / elapsed,
                    }
                    waited[0] = 0.0
                    bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{lr:.2e}")
                    sums = dict.fromkeys(sums, 0.0)
                    count, interval_start = 0.0, time.perf_counter()
                if config.val.every and (step % config.val.every == 0 or step == config.steps) and main_process:
                    scores = validate(model, config, device)
                    if scores is not None:
                        row = (row or {"step": step}) | scores
                        if scores["val_psnr"] > best_psnr:
                            best_psnr = scores["val_psnr"]
                            save_weights(model, run_dir / "best", metadata=meta() | {"metrics": scores})
                    if ema is not None and (averaged := validate(ema.model, config, device)) is not None:
                        row = (row or {"step": step}) | {f"{k}_ema": v for k, v in averaged.items()}
                        if averaged["val_psnr"] > best_ema_psnr:
                            best_ema_psnr = averaged["val_psnr"]
                            save_weights(ema.model, run_dir / "best-ema", metadata=ema_meta() | {"metrics": averaged})
                if row is not None and writer is not None:
                    writer.writerow({k: row.get(k, "") for k in CSV_FIELDS})
                    csv_file.flush()
                    draw_curves(csv_path, run_dir / "curves.png")
                    if tb is not None:
                        for k, v in row.items():
                            if k != "step":
                                tb.add_scalar(k, v, step)
                if step % config.ckpt_every == 0 or step == config.steps:
                    last_ckpt = checkpoint() or last_ckpt
                if config.stop_at_step is not None and step >= config.stop_at_step:
                    stop_reason.append(f"stop_at_step {config.stop_at_step}")
                if config.max_minutes and (time.perf_counter() - run_start) / 60 > config.max_minutes:
                    stop_reason.append(f"wall-time limit of {config.max_minutes} min")
                if distributed:
                    # Every process stops together, whichever one saw the signal or the limit.
                    flag = torch.tensor([1.0 if stop_reason else 0.0], device=device)
                    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                    if flag.item() > 0 and not stop_reason:
                        stop_reason.append("another process stopped")
                if step >= config.steps or stop_reason:
                    exhausted = False
                    break
            batches.close()  # the loader's workers stop here (see _batches), on a break as at the epoch's end
            if exhausted and not interrupted:
                epoch, offset = epoch + 1, 0
    finally:
        if batches is not None:
            batches.close()  # and on an exception
        bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    flags.read(wait=True)  # the last steps' flags, for the log
    if stop_reason:
        last_ckpt = checkpoint() or last_ckpt
    if writer is not None:
        csv_file.close()
    if tb is not None:
        tb.close()
    if distributed:
        dist.barrier()
    if stop_reason:
        raise TrainingStopped(
            f"stopped at step {step} ({stop_reason[0]}); checkpoint saved in {last_ckpt}; "
            f"resume with: idc train --resume {run_dir}"
        )
    assert last_ckpt is not None or not main_process
    return last_ckpt or run_dir
