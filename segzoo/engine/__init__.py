"""Training engine: optimiser parameter groups and learning-rate schedules (the trainer,
distributed helpers and semi-supervised rounds come with the engine issue)."""

from .optim import PolyLR, param_groups, poly_lambda

__all__ = ["PolyLR", "param_groups", "poly_lambda"]
