"""One training loop for semantic, multi-scale and panoptic segzoo models.

The iteration-based loop of semantic-segmentation toolboxes (MMSegmentation, Detectron2's
``SimpleTrainer``) with the usual practice: SGD/AdamW over backbone/head parameter groups,
poly/step/cosine schedules with warm-up, mixed precision (``torch.autocast``; fp16 with a
``GradScaler``, Micikevicius et al., arXiv:1710.03740), gradient clipping and accumulation,
an EMA of the weights, DistributedDataParallel, periodic evaluation keeping the best
checkpoint, and exact resumption. The model's own loss recipe is used as it is, through the
model contract of every task (``segzoo.models.SegmentationModel``)::

    losses = model.losses(model(images, targets), targets)

and the objective is the sum of the returned dict. A non-finite loss skips the step (with
a warning naming the loss and iteration); ``max_bad_steps`` in a row stop training.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .distributed import (
    all_reduce_mean,
    any_across_ranks,
    barrier,
    convert_sync_batchnorm,
    dist_info,
    sync_buffers,
    wrap_ddp,
)
from .ema import ModelEMA
from .evaluation import evaluate, scalar_metrics, to_unit_float
from .loader import eval_loader, train_loader
from .logs import GracefulInterrupt, JsonlWriter, quiet_other_ranks
from .multiscale import BatchRescale
from .optim import build_optimizer
from .schedules import build_scheduler
from .seed import get_rng_state, seed_everything, set_rng_state

__all__ = ["Trainer", "TrainResult", "NonFiniteLossError"]

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training stopped after too many consecutive steps with a NaN/Inf loss."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    step: int  # iterations completed
    interrupted: bool  # stopped early (``stop_at`` or a signal); resume with ``fit(resume=True)``
    metrics: dict[str, float] | None  # the last evaluation's scalar metrics
    best_metric: str | None
    best_value: float | None
    best_step: int | None
    out_dir: Path | None


class _TrainStep(nn.Module):
    """``(images, targets) -> loss dict`` through the model's own recipe (DDP wraps this module)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Any, targets: Any) -> dict[str, torch.Tensor]:
        return self.model.losses(self.model(images, targets), targets)


def _to_device(target: Any, device: torch.device) -> Any:
    if isinstance(target, torch.Tensor):
        return target.to(device, non_blocking=True)
    if isinstance(target, dict):
        return {k: _to_device(v, device) for k, v in target.items()}
    if isinstance(target, (list, tuple)):
        return type(target)(_to_device(v, device) for v in target)
    return target


class Trainer:
    """Train a segzoo model on a dataset; see :class:`TrainConfig` for every option.

    Args:
        model: a model from ``segzoo.build`` (its device is the training device; under
            ``torchrun`` move it to ``cuda:LOCAL_RANK`` first, or leave it on the CPU).
        train_data: a dataset returning ``(image uint8 (C, H, W), target)`` as ``segzoo.data``
            does (no ``Normalize``: the trainer normalises with the model's statistics).
        val_data: optional dataset for evaluation (same format).
        out_dir: where ``last/``, ``best/`` and ``metrics.jsonl`` go (None: nothing written).
        config: a :class:`TrainConfig`; or pass its fields as keyword options.
    """

    def __init__(
        self,
        model: nn.Module,
        train_data: Dataset,
        *,
        val_data: Dataset | None = None,
        out_dir: str | Path | None = None,
        config: TrainConfig | None = None,
        **options: Any,
    ) -> None:
        if config is not None and options:
            raise TypeError(f"Pass either config=TrainConfig(...) or keyword options, not both (got {sorted(options)}).")
        self.config = cfg = config if config is not None else TrainConfig.from_dict(options)
        if not all(hasattr(model, name) for name in ("losses", "normalize", "evaluator")):
            raise TypeError(f"Trainer needs a segzoo model (from segzoo.build), got {type(model).__name__}.")
        if isinstance(train_data, DataLoader) or isinstance(val_data, DataLoader):
            raise TypeError(
                "Pass datasets, not DataLoaders: the trainer builds its own loaders (seeded, sharded, resumable). "
                "Set batch_size / num_workers in the config."
            )
        self.dist = dist_info()
        self.is_main = self.dist.rank == 0  # logs and writes files; the other ranks log warnings only
        quiet_other_ranks(self.dist.rank)  # also when the caller set up the process group itself
        seed_everything(cfg.seed, rank=self.dist.rank, deterministic=cfg.deterministic)
        self.device = model.device
        if cfg.sync_bn:
            model = convert_sync_batchnorm(model, device=self.device)
        self.model = model
        find_unused = cfg.find_unused_parameters
        if find_unused is None:
            find_unused = bool(getattr(model, "ddp_find_unused_parameters", False))
        self.wrapped = wrap_ddp(_TrainStep(model), device=self.device, find_unused_parameters=find_unused)
        self.optimizer = build_optimizer(
            model, name=cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay, head_lr_mult=cfg.head_lr_mult,
            momentum=cfg.momentum, betas=cfg.betas,
        )  # fmt: skip
        self.scheduler = build_scheduler(
            self.optimizer, name=cfg.schedule, max_iters=cfg.max_iters, power=cfg.power, step_size=cfg.step_size,
            milestones=cfg.milestones, gamma=cfg.gamma, min_ratio=cfg.min_lr_ratio, warmup_iters=cfg.warmup_iters, warmup_ratio=cfg.warmup_ratio,
        )  # fmt: skip
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.amp == "fp16")
        self.ema = ModelEMA(model, decay=cfg.ema_decay) if cfg.ema_decay is not None else None
        self.rescale = None
        if cfg.batch_scale_range or cfg.batch_scales or cfg.batch_base_sizes:
            self.rescale = BatchRescale(
                scale_range=cfg.batch_scale_range, scales=cfg.batch_scales, base_sizes=cfg.batch_base_sizes,
                size_divisor=cfg.size_divisor, seed=cfg.seed,
            )  # fmt: skip
        self.loader, self.sampler = train_loader(
            train_data, batch_size=cfg.batch_size, seed=cfg.seed, num_workers=cfg.num_workers,
            rank=self.dist.rank, world_size=self.dist.world_size,
        )  # fmt: skip
        self.batches_per_epoch = self.sampler.per_rank // cfg.batch_size
        self.val_data = val_data
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.writer = JsonlWriter(self.out_dir / "metrics.jsonl" if self.out_dir is not None and self.is_main else None)
        self.best_metric = cfg.best_metric or model.primary_metric
        self.step, self.epoch, self.batch_in_epoch, self.bad_steps = 0, 0, 0, 0
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.last_metrics: dict[str, float] | None = None

    # ---- state -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything but the weights: optimiser, scheduler, scaler, EMA counters, position, RNG, best."""
        return {
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "bad_steps": self.bad_steps,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": get_rng_state(), "best": {"metric": self.best_metric, "value": self.best_value, "step": self.best_step},
            "config": self.config.to_dict(),
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_in_epoch, self.bad_steps = int(state["batch_in_epoch"]), int(state["bad_steps"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        best = state.get("best") or {}
        if best.get("metric") == self.best_metric:
            self.best_value, self.best_step = best.get("value"), best.get("step")
        set_rng_state(state["rng"])

    def save(self, name: str = "last") -> Path | None:
        """Write checkpoint ``out_dir/name`` (rank 0 only; every rank waits for it)."""
        path = None
        sync_buffers(self.model)
        if self.is_main and self.out_dir is not None:
            path = save_checkpoint(
                self.out_dir / name, model=self.model, state=self.state_dict(),
                ema_model=self.ema.module if self.ema is not None else None, metrics=self.last_metrics,
            )  # fmt: skip
        barrier()
        return path

    def resume(self, source: str | Path | None = None) -> bool:
        """Load ``source`` (default ``out_dir/last``); False when there is no checkpoint there."""
        source = Path(source) if source is not None else (self.out_dir / "last" if self.out_dir else None)
        if source is None or find_checkpoint(source) is None:
            return False
        state = load_checkpoint(source, model=self.model, ema_model=self.ema.module if self.ema else None)
        self.load_state_dict(state)
        self.writer.truncate_after(self.step)
        log.info("Resumed from %s at iteration %d.", source, self.step)
        return True

    # ---- loop --------------------------------------------------------------------------------

    def _stream(self) -> Iterator[Any]:
        """Batches forever, from the current (epoch, batch) position on."""
        while True:
            self.sampler.set_epoch(self.epoch, start=self.batch_in_epoch * self.config.batch_size)
            for batch in self.loader:
                self.batch_in_epoch += 1
                yield batch
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0

    def _prepare(self, images: Any, targets: Any) -> tuple[Any, Any]:
        """Float 0-1, per-iteration rescale, device, the model's normalisation."""
        listed = isinstance(images, (list, tuple))  # images of different sizes (panoptic loaders) or a batch
        images = [to_unit_float(im) for im in images] if listed else to_unit_float(images)
        if self.rescale is not None:
            images, targets = self.rescale(images, targets, self.step)
        targets = _to_device(targets, self.device)
        if listed:
            return [self.model.normalize(im.to(self.device)[None])[0] for im in images], targets
        return self.model.normalize(images.to(self.device)), targets

    def _autocast(self):
        if self.config.amp is None:
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _train_step(self, stream: Iterator[Any]) -> dict[str, float]:
        """One optimiser step over ``accumulate`` batches; returns the mean losses (or {} if skipped)."""
        cfg = self.config
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = defaultdict(float)
        bad: dict[str, float] = {}
        ddp = isinstance(self.wrapped, nn.parallel.DistributedDataParallel)
        # BatchNorm statistics move in the forward pass; a skipped step must not keep them (NaNs would stay)
        buffers = [b.detach().clone() for b in self.model.buffers()]
        for micro in range(cfg.accumulate):
            images, targets = self._prepare(*next(stream))
            sync = ddp and micro < cfg.accumulate - 1
            with self.wrapped.no_sync() if sync else contextlib.nullcontext():
                with self._autocast():
                    losses = self.wrapped(images, targets)
                if not isinstance(losses, dict) or not losses:
                    raise TypeError(f"The model's loss recipe must return a non-empty dict, got {type(losses).__name__}.")
                values = {k: float(v.detach().float()) for k, v in losses.items()}
                bad = {k: v for k, v in values.items() if not math.isfinite(v)}
                if any_across_ranks(bool(bad), device=self.device):
                    bad = bad or {"(another rank)": float("nan")}
                    break
                total = sum(losses.values())
                self.scaler.scale(total / cfg.accumulate).backward()
            for k, v in values.items():
                sums[k] += v / cfg.accumulate
            sums["loss"] += sum(values.values()) / cfg.accumulate
        if bad:
            self.bad_steps += 1
            self.optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                for b, saved in zip(self.model.buffers(), buffers):
                    b.copy_(saved)
            log.warning(
                "Non-finite loss at iteration %d: %s. Step skipped (%d of at most %d in a row).",
                self.step + 1, ", ".join(f"{k}={v}" for k, v in bad.items()), self.bad_steps, cfg.max_bad_steps,
            )  # fmt: skip
            if self.bad_steps >= cfg.max_bad_steps:
                where = f" The last good checkpoint is in {self.out_dir / 'last'}." if self.out_dir else ""
                raise NonFiniteLossError(
                    f"{self.bad_steps} consecutive iterations (up to {self.step + 1}) had a non-finite loss "
                    f"({', '.join(bad)}).{where} Lower the learning rate, add warm-up or clip_grad_norm, "
                    "or check the data for broken labels."
                )
            self.scheduler.step()  # the schedule follows the iteration count, also over skipped steps
            return {}
        self.bad_steps = 0
        if cfg.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            sums["grad_norm"] = float(nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        self.scheduler.step()
        return dict(sums)

    def evaluate(self, dataset: Dataset | None = None) -> dict[str, Any]:
        """Metrics of the model (the EMA model when EMA is on) on ``dataset`` (default: the validation set)."""
        dataset = dataset if dataset is not None else self.val_data
        if dataset is None:
            raise ValueError("No validation data: pass val_data to the Trainer or a dataset to evaluate().")
        loader = eval_loader(
            dataset, batch_size=self.config.val_batch_size, num_workers=self.config.num_workers,
            rank=self.dist.rank, world_size=self.dist.world_size,
        )  # fmt: skip
        sync_buffers(self.model)  # every rank evaluates rank 0's model
        rng = torch.get_rng_state()  # evaluation must not change the training's random stream
        try:
            return evaluate(self.ema.module if self.ema is not None else self.model, loader, amp=self.config.amp)
        finally:
            torch.set_rng_state(rng)

    def _evaluate_and_track(self) -> None:
        metrics = scalar_metrics(self.evaluate())
        self.last_metrics = metrics
        self.writer.write({"type": "eval", "step": self.step, **metrics})
        log.info("Evaluation at iteration %d: %s", self.step, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        value = metrics.get(self.best_metric)
        if value is None:
            raise KeyError(f"best_metric {self.best_metric!r} is not among the evaluation metrics {sorted(metrics)}.")
        maximise = self.config.best_mode == "max"
        better = self.best_value is None or (value > self.best_value if maximise else value < self.best_value)
        if better:
            self.best_value, self.best_step = value, self.step
            if self.is_main and self.out_dir is not None:
                model = self.ema.module if self.ema is not None else self.model
                save_checkpoint(self.out_dir / "best", model=model, metrics={"step": self.step, **metrics})
            barrier()

    def _log(self, losses: dict[str, float], seconds: float, bar: Any) -> None:
        losses = all_reduce_mean(losses, device=self.device) if losses else {}
        lrs = {g.get("name", str(i)): g["lr"] for i, g in enumerate(self.optimizer.param_groups)}
        lr = next(iter(lrs.values()))
        record = {"type": "train", "step": self.step, "epoch": self.epoch, "lr": lr, **losses, "sec_per_iter": seconds}
        if "head" in lrs:
            record["lr_head"] = lrs["head"]
        record["eta_s"] = seconds * (self.config.max_iters - self.step)
        self.writer.write(record)
        if bar is not None and losses:
            shown = {k: f"{v:.3f}" for k, v in losses.items() if k == "loss" or len(losses) <= 4}
            bar.set_postfix(lr=f"{lr:.2e}", **shown, refresh=False)
        log.debug("iteration %d: %s", self.step, record)

    def fit(self, *, resume: bool | str | Path = False, stop_at: int | None = None) -> TrainResult:
        """Train up to ``max_iters`` iterations.

        Args:
            resume: continue from ``out_dir/last`` (``True``) or from a checkpoint directory;
                without a checkpoint training starts from scratch (with a log line).
            stop_at: stop once this many iterations are done, writing a checkpoint, as an
                interruption would (resume later with ``resume=True``).
        """
        from tqdm.auto import tqdm

        cfg = self.config
        if resume and not self.resume(None if resume is True else resume):
            log.info("No checkpoint to resume from in %s; starting from scratch.", self.out_dir)
        target = cfg.max_iters if stop_at is None else min(stop_at, cfg.max_iters)
        bar = tqdm(total=cfg.max_iters, initial=self.step, desc="train", dynamic_ncols=True,
                   disable=not (cfg.progress and self.is_main))  # fmt: skip
        stream, interrupted, tick, saved = self._stream(), False, time.perf_counter(), None
        self.model.train()
        try:
            with GracefulInterrupt() as interrupt:
                while self.step < target:
                    losses = self._train_step(stream)
                    self.step += 1
                    bar.update(1)
                    now = time.perf_counter()
                    if self.step % cfg.log_every == 0 or self.step == target:
                        self._log(losses, now - tick, bar)
                    tick = now
                    if self.val_data is not None and cfg.eval_every and self.step % cfg.eval_every == 0:
                        self._evaluate_and_track()
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and not self.bad_steps:
                        self.save("last")
                        saved = self.step
                    if any_across_ranks(interrupt.requested, device=self.device):
                        interrupted = True
                        break
        finally:
            bar.close()
        done = self.step >= cfg.max_iters
        final_eval = done and self.val_data is not None and not (cfg.eval_every and self.step % cfg.eval_every == 0)
        if final_eval:
            self._evaluate_and_track()
        interrupted = interrupted or not done
        if saved != self.step or final_eval:
            self.save("last")
        if interrupted:
            log.info("Stopped at iteration %d of %d; continue with resume.", self.step, cfg.max_iters)
        return TrainResult(
            step=self.step, interrupted=interrupted, metrics=self.last_metrics, best_metric=self.best_metric,
            best_value=self.best_value, best_step=self.best_step, out_dir=self.out_dir,
        )  # fmt: skip
