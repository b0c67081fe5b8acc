"""One paper's training recipe for one model and dataset, every value with its source.

A :class:`TrainRecipe` is data: the optimiser and schedule (:class:`~segzoo.engine.config.TrainConfig`
fields), the augmentation (``data``), the model's build options that shape its loss and
initialisation (``model_options``), the evaluation protocol (``evaluation``) and, for AinnoSeg, the
teacher/student rounds (``semi``). Each value is a :class:`Cited`: the value and where it comes from
(a seed's section, an upstream config file).

Batch and learning rate: ``train["batch_size"]`` is the paper's *total* batch over its ``gpus``
processes. :meth:`TrainRecipe.config` splits it over the processes of the run (``torchrun`` with N
processes: total / N per process, the paper's learning rate); a run that changes the total batch
(``batch_size`` or ``accumulate`` overridden) scales the learning rate linearly (Goyal et al.,
arXiv:1706.02677) unless ``lr`` is overridden too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["Cited", "TrainRecipe", "DATA_KEYS", "EVALUATION_KEYS", "SEMI_KEYS", "cite"]

# augmentation: crop (H, W); base_size: short side at scale 1 (or bases: several, one drawn per image);
# scale_range: random resize factors; flip; photometric: MMSegmentation's PhotometricDistortion;
# mosaic_extra: mosaic images added as this fraction of the training set (seed 001)
DATA_KEYS = ("crop", "base_size", "bases", "scale_range", "flip", "photometric", "mosaic_extra")
# evaluation: scales (TTA factors), flip (TTA), mode ("whole" or "slide"), crop/stride of the sliding
# window, short side the image is resized to, crf (dense CRF post-processing), metric
EVALUATION_KEYS = ("scales", "flip", "mode", "crop", "stride", "resize", "crf", "metric")
# teacher/student rounds (seed 001): rounds, pseudo_label_scales, pseudo_label_flip, student (how the
# student trains: "pseudo_then_finetune"), threshold
SEMI_KEYS = ("rounds", "pseudo_label_scales", "pseudo_label_flip", "student", "threshold")


@dataclass(frozen=True)
class Cited:
    """A recipe value and its source."""

    value: Any
    source: str


def cite(source: str, **values: Any) -> dict[str, Cited]:
    """``cite("seed 004 Sec. 3", lr=0.01, power=0.9)`` -> ``{"lr": Cited(0.01, ...), ...}``."""
    return {key: Cited(value, source) for key, value in values.items()}


@dataclass(frozen=True)
class TrainRecipe:
    """A paper's training recipe for ``model`` on ``dataset`` (a ``segzoo train --data`` kind)."""

    model: str
    dataset: str
    paper: str
    gpus: Cited
    train: Mapping[str, Cited]
    data: Mapping[str, Cited] = field(default_factory=dict)
    model_options: Mapping[str, Cited] = field(default_factory=dict)
    evaluation: Mapping[str, Cited] = field(default_factory=dict)
    semi: Mapping[str, Cited] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:
        from ..engine.config import TrainConfig

        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        for group, allowed in (("train", fields), ("data", DATA_KEYS), ("evaluation", EVALUATION_KEYS), ("semi", SEMI_KEYS)):
            unknown = sorted(set(getattr(self, group)) - set(allowed))
            if unknown:
                raise ValueError(f"{self.model}/{self.dataset}: unknown {group} key(s) {unknown}; valid: {sorted(allowed)}.")
        if "batch_size" not in self.train or "max_iters" not in self.train:
            raise ValueError(f"{self.model}/{self.dataset}: a recipe states batch_size (total) and max_iters.")
        if self.train["batch_size"].value % self.gpus.value:
            raise ValueError(f"{self.model}/{self.dataset}: batch {self.train['batch_size'].value} over {self.gpus.value} GPUs.")

    # ----------------------------------------------------------------- values
    def values(self) -> dict[str, dict[str, Any]]:
        """The plain values by group (``{"train": {...}, "data": {...}, ...}``)."""
        out = {"gpus": self.gpus.value}
        for group in ("train", "data", "model_options", "evaluation", "semi"):
            out[group] = {k: c.value for k, c in getattr(self, group).items()}
        return out

    def sources(self) -> dict[str, str]:
        """``"group.key" -> source`` for every value."""
        out = {"gpus": self.gpus.source}
        for group in ("train", "data", "model_options", "evaluation", "semi"):
            out.update({f"{group}.{k}": c.source for k, c in getattr(self, group).items()})
        return out

    @property
    def total_batch(self) -> int:
        return int(self.train["batch_size"].value)

    # ----------------------------------------------------------------- config
    def config(self, *, world_size: int = 1, **overrides: Any):
        """The :class:`~segzoo.engine.config.TrainConfig` of this recipe for a run of ``world_size``
        processes, with ``overrides`` (TrainConfig fields) applied. ``batch_size`` in the result is per
        process (the trainer's meaning); see the module docstring for the learning-rate rule."""
        from ..engine.config import TrainConfig

        if world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {world_size}.")
        values = {k: c.value for k, c in self.train.items()}
        values["batch_size"], values["accumulate"] = self.split_batch(world_size)
        values.update(overrides)
        total = values["batch_size"] * values["accumulate"] * world_size
        if total != self.total_batch and "lr" not in overrides:
            values["lr"] = values["lr"] * total / self.total_batch
        values.setdefault("extra", {})
        values["extra"] = {**values["extra"], "train_recipe": f"{self.model}/{self.dataset}", "recipe_total_batch": self.total_batch,
                           "run_total_batch": total}  # fmt: skip
        return TrainConfig.from_dict(values)

    def split_batch(self, world_size: int) -> tuple[int, int]:
        """(images per process and step, accumulation steps) that make the paper's total batch on
        ``world_size`` processes."""
        total = self.total_batch
        if total % world_size:
            raise ValueError(
                f"{self.model}/{self.dataset} trains with a total batch of {total} ({self.gpus.value} GPUs in the paper), "
                f"which {world_size} processes can't split evenly; run with a divisor of {total} processes, or set "
                "batch_size (per process) and accumulate yourself: the learning rate then scales linearly."
            )
        return total // world_size, 1

    # ----------------------------------------------------------------- display
    def describe(self) -> list[str]:
        """Lines for ``segzoo info``: each value and its source."""
        lines = [f"training recipe {self.model} / {self.dataset} ({self.paper})",
                 f"  gpus: {self.gpus.value}  [{self.gpus.source}]"]  # fmt: skip
        for group in ("train", "data", "model_options", "evaluation", "semi"):
            entries = getattr(self, group)
            if not entries:
                continue
            lines.append(f"  {group}:")
            runs: list[tuple[str, list[str]]] = []  # consecutive values citing the same source share a line
            for key, cited in entries.items():
                if not runs or runs[-1][0] != cited.source:
                    runs.append((cited.source, []))
                runs[-1][1].append(f"{key}={cited.value!r}")
            lines += [f"    {', '.join(values)}  [{source}]" for source, values in runs]
        if self.notes:
            lines.append(f"  notes: {self.notes}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: values and sources."""
        return {"model": self.model, "dataset": self.dataset, "paper": self.paper, "notes": self.notes,
                **self.values(), "sources": self.sources()}  # fmt: skip
