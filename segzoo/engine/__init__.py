"""Training engine: the :class:`Trainer` (semantic, multi-scale and panoptic models), its
optimiser/schedule factories, checkpoints, EMA, distributed helpers, seeding, evaluation
and the semi-supervised teacher/student rounds of seed 001."""

from .checkpoint import CheckpointError, find_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .distributed import DistInfo, cleanup, dist_info, init_distributed, is_main_process
from .ema import ModelEMA
from .evaluate import evaluate
from .loader import ResumableSampler, collate_panoptic, collate_semantic, eval_loader, train_loader
from .multiscale import BatchRescale
from .optim import PolyLR, build_optimizer, param_groups, poly_lambda
from .schedules import LRFactor, build_scheduler
from .seed import seed_everything, worker_init_fn
from .semi_supervised import RoundResult, SemiSupervised, pseudo_label
from .trainer import NonFiniteLossError, Trainer, TrainResult

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
