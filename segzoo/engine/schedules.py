"""Learning-rate schedules stepped once per iteration: poly, step, cosine, with linear warm-up.

- poly: ``(1 - it / max_iters) ** power`` (ParseNet, arXiv:1506.04579; DeepLab; seed 004
  uses power 0.9);
- step: ``gamma ** (it // step_size)`` (x0.1 every ``step_size`` iterations, as in the
  ResNet schedule), or with ``milestones``: ``gamma ** (number of milestones <= it)`` (Mask R-CNN's
  and Detectron's multi-step schedules; seed 002 halves the rate twice);
- cosine: ``min_ratio + (1 - min_ratio) * (1 + cos(pi * it / max_iters)) / 2`` (SGDR,
  Loshchilov & Hutter, arXiv:1608.03983, without restarts);
- linear warm-up over the first ``warmup_iters`` from ``warmup_ratio`` (Goyal et al.,
  "Accurate, Large Minibatch SGD", arXiv:1706.02677), multiplied onto the schedule.
"""

from __future__ import annotations

import math

import torch

from .config import SCHEDULES

__all__ = ["LRFactor", "SCHEDULES", "build_scheduler"]


class LRFactor:
    """The learning-rate multiplier at iteration ``it`` (a picklable callable for ``LambdaLR``).

    Args:
        name: ``"poly"``, ``"step"``, ``"cosine"`` or ``"constant"``.
        max_iters: the length of training.
        power: poly exponent.
        step_size, gamma: the step schedule multiplies by ``gamma`` every ``step_size`` iterations.
        milestones: instead of ``step_size``, the iterations at which it multiplies by ``gamma``.
        min_ratio: the final multiplier of the cosine and poly schedules (poly's floor: MMSegmentation's
            ``eta_min`` / base lr).
        warmup_iters, warmup_ratio: linear warm-up from ``warmup_ratio`` to 1.
    """

    def __init__(
        self,
        name: str,
        *,
        max_iters: int,
        power: float = 0.9,
        step_size: int | None = None,
        milestones: tuple[int, ...] | None = None,
        gamma: float = 0.1,
        min_ratio: float = 0.0,
        warmup_iters: int = 0,
        warmup_ratio: float = 0.1,
    ) -> None:
        if name not in SCHEDULES:
            raise ValueError(f"Unknown schedule {name!r}; choose one of {SCHEDULES}.")
        if max_iters < 1:
            raise ValueError(f"max_iters must be >= 1, got {max_iters}.")
        if milestones is not None:
            milestones = tuple(int(m) for m in milestones)
            if name != "step" or step_size is not None or list(milestones) != sorted(set(milestones)) or milestones[0] < 1:
                raise ValueError(
                    f"milestones ({milestones}) are increasing iterations >= 1 of the step schedule, given instead of step_size."
                )
        elif name == "step" and (step_size is None or step_size < 1):
            raise ValueError("The step schedule needs step_size >= 1 (iterations between the x gamma drops) or milestones.")
        if warmup_iters < 0 or not 0 < warmup_ratio <= 1:
            raise ValueError(f"Need warmup_iters >= 0 and 0 < warmup_ratio <= 1, got {warmup_iters}, {warmup_ratio}.")
        self.name, self.max_iters, self.power = name, int(max_iters), float(power)
        self.step_size, self.milestones, self.gamma, self.min_ratio = step_size, milestones, float(gamma), float(min_ratio)
        self.warmup_iters, self.warmup_ratio = int(warmup_iters), float(warmup_ratio)

    def main(self, it: int) -> float:
        """The schedule without warm-up."""
        t = min(it, self.max_iters) / self.max_iters
        if self.name == "poly":  # with min_ratio: MMSegmentation's PolyLR eta_min (floor)
            return self.min_ratio + (1.0 - self.min_ratio) * (1.0 - t) ** self.power
        if self.name == "step" and self.milestones is not None:
            return self.gamma ** sum(it >= m for m in self.milestones)
        if self.name == "step":
            return self.gamma ** (it // self.step_size)
        if self.name == "cosine":
            return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
        return 1.0

    def __call__(self, it: int) -> float:
        factor = self.main(it)
        if it < self.warmup_iters:
            factor *= self.warmup_ratio + (1.0 - self.warmup_ratio) * it / self.warmup_iters
        return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    name: str = "poly",
    max_iters: int,
    power: float = 0.9,
    step_size: int | None = None,
    milestones: tuple[int, ...] | None = None,
    gamma: float = 0.1,
    min_ratio: float = 0.0,
    warmup_iters: int = 0,
    warmup_ratio: float = 0.1,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying :class:`LRFactor` to every parameter group's initial learning rate."""
    factor = LRFactor(
        name, max_iters=max_iters, power=power, step_size=step_size, milestones=milestones, gamma=gamma,
        min_ratio=min_ratio, warmup_iters=warmup_iters, warmup_ratio=warmup_ratio,
    )  # fmt: skip
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
