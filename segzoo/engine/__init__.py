"""Training engine: the :class:`Trainer` (semantic, multi-scale and panoptic models), its
optimiser/schedule factories, checkpoints, EMA, distributed helpers, seeding, evaluation
and the semi-supervised teacher/student rounds of seed 001.

Names are imported on first use (PEP 562), so ``segzoo.engine.config`` (read by the CLI's
parser to make ``segzoo train``'s flags) does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import CheckpointError, find_checkpoint, load_checkpoint, save_checkpoint
    from .config import TrainConfig
    from .distributed import DistInfo, cleanup, dist_info, init_distributed, is_main_process
    from .ema import ModelEMA
    from .evaluation import evaluate
    from .loader import ResumableSampler, collate, collate_panoptic, collate_semantic, eval_loader, train_loader
    from .multiscale import BatchRescale
    from .optim import PolyLR, build_optimizer, param_groups, poly_lambda
    from .schedules import LRFactor, build_scheduler
    from .seed import seed_everything, worker_init_fn
    from .semi_supervised import RoundResult, SemiSupervised, pseudo_label
    from .trainer import NonFiniteLossError, Trainer, TrainResult

_LAZY = {
    "CheckpointError": ".checkpoint",
    "find_checkpoint": ".checkpoint",
    "load_checkpoint": ".checkpoint",
    "save_checkpoint": ".checkpoint",
    "TrainConfig": ".config",
    "DistInfo": ".distributed",
    "cleanup": ".distributed",
    "dist_info": ".distributed",
    "init_distributed": ".distributed",
    "is_main_process": ".distributed",
    "ModelEMA": ".ema",
    "evaluate": ".evaluation",
    "ResumableSampler": ".loader",
    "collate": ".loader",
    "collate_panoptic": ".loader",
    "collate_semantic": ".loader",
    "eval_loader": ".loader",
    "train_loader": ".loader",
    "BatchRescale": ".multiscale",
    "PolyLR": ".optim",
    "build_optimizer": ".optim",
    "param_groups": ".optim",
    "poly_lambda": ".optim",
    "LRFactor": ".schedules",
    "build_scheduler": ".schedules",
    "seed_everything": ".seed",
    "worker_init_fn": ".seed",
    "RoundResult": ".semi_supervised",
    "SemiSupervised": ".semi_supervised",
    "pseudo_label": ".semi_supervised",
    "NonFiniteLossError": ".trainer",
    "Trainer": ".trainer",
    "TrainResult": ".trainer",
}

__all__ = [
    "BatchRescale",
    "CheckpointError",
    "DistInfo",
    "LRFactor",
    "ModelEMA",
    "NonFiniteLossError",
    "PolyLR",
    "ResumableSampler",
    "RoundResult",
    "SemiSupervised",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_optimizer",
    "build_scheduler",
    "cleanup",
    "collate",
    "collate_panoptic",
    "collate_semantic",
    "dist_info",
    "eval_loader",
    "evaluate",
    "find_checkpoint",
    "init_distributed",
    "is_main_process",
    "load_checkpoint",
    "param_groups",
    "poly_lambda",
    "pseudo_label",
    "save_checkpoint",
    "seed_everything",
    "train_loader",
    "worker_init_fn",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
