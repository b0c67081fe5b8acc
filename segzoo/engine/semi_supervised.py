"""Pseudo-labelling and teacher/student rounds (seed 001, AinnoSeg).

AinnoSeg (seed 001 Sec. 3.4, Fig. 5, Sec. 4.1) trains a teacher on the labelled set, labels the
unlabelled images with it (multi-scale inference, Sec. 3.5: the seven scales 0.5-2.0, with flip),
trains a student on the pseudo-labelled images, fine-tunes it on the labelled data, and repeats with
the student as the next teacher, two rounds: self-training in the manner of Noisy Student (Xie et al.,
arXiv:1911.04252). Those are the defaults here (``student_data="pseudo"``, ``rounds=2``,
``tta_scales=AINNOSEG_SCALES``, ``flip=True``).

Readings the seed leaves open: Sec. 3.4 fine-tunes on "all the datasets with the test dataset pair"
while Sec. 4.1 and Fig. 5 fine-tune on "the training dataset"; we follow Sec. 4.1 (labelled set)
and offer ``student_data="pseudo+labelled"`` for a student trained on both. Flip is not named in
the seed (we flip, as multi-scale TTA usually does; ``flip=False`` to match the text). The seed
does not say whether low-confidence pixels are dropped; ``threshold`` (off by default) sets pixels
whose top probability is below it to 255 (ignored), the usual practice in those works.

Pseudo labels are written as a :class:`segzoo.data.SegmentationFolder`:
``out_dir/images/<name>.png`` (the RGB image) and ``out_dir/masks/<name>.png`` (train ids,
255 = ignored), so any later run can reuse them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset

from ..data import SegmentationFolder
from ..data.panoptic_utils import IGNORE_INDEX
from ..postprocess.tta import AINNOSEG_SCALES, TTA
from .config import TrainConfig
from .evaluation import to_unit_float

__all__ = ["pseudo_label", "PseudoLabels", "SemiSupervised", "RoundResult", "STUDENT_DATA"]

# what the student trains on: the pseudo labels only (seed 001), or pseudo labels plus the labelled set
STUDENT_DATA = ("pseudo", "pseudo+labelled")

log = logging.getLogger(__name__)


@dataclass
class PseudoLabels:
    """What :func:`pseudo_label` wrote: the folder, the sample names, the share of ignored pixels."""

    directory: Path
    names: list[str]
    ignored_fraction: float

    def dataset(self, *, num_classes: int, transforms: Any = None) -> SegmentationFolder:
        """The pseudo-labelled set as a dataset."""
        return SegmentationFolder(self.directory, num_classes=num_classes, transforms=transforms)


def _read_image(path: Path) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1)


def _named_images(source: Any) -> list[tuple[str, Any]]:
    """``(name, image or loader)`` pairs from a dataset, a list of paths, or a list/batch of images."""
    if isinstance(source, (str, Path)):
        raise TypeError("Pass a list of image paths (or a dataset), not a single path.")
    items: list[tuple[str, Any]] = []
    if isinstance(source, Dataset) and not isinstance(source, torch.Tensor):
        for i in range(len(source)):
            sample = source[i]
            image, target = sample if isinstance(sample, (tuple, list)) else (sample, None)
            image_id = target.get("image_id") if isinstance(target, dict) else None
            items.append((f"{image_id:06d}" if isinstance(image_id, int) else str(image_id or f"{i:06d}"), image))
    else:
        for i, item in enumerate(source):
            if isinstance(item, (str, Path)):
                items.append((Path(item).stem, Path(item)))
            else:
                items.append((f"{i:06d}", item))
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise ValueError("Image names must be unique (they name the label files); rename duplicates.")
    return items


@torch.no_grad()
def pseudo_label(
    model: nn.Module,
    images_or_dataset: Any,
    out_dir: str | Path,
    *,
    tta_scales: Sequence[float] = (1.0,),
    flip: bool = True,
    threshold: float | None = None,
) -> PseudoLabels:
    """Label images with ``model`` (multi-scale/flip TTA) and write them as a segmentation folder.

    Args:
        model: a semantic segzoo model, or a panoptic one (its semantic branch is used).
        images_or_dataset: a dataset returning ``(image, target)`` (uint8 ``(C, H, W)``), a
            list of image paths, or a list of uint8 ``(C, H, W)`` tensors.
        out_dir: gets ``images/`` and ``masks/``.
        tta_scales, flip: test-time augmentation (seed 001: ``AINNOSEG_SCALES`` with flip).
        threshold: pixels whose top class probability is below it become 255 (ignored).
    """
    from ..viz import save_png

    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] or None, got {threshold}.")
    if model.num_classes > IGNORE_INDEX:
        raise ValueError(f"Label PNGs hold at most {IGNORE_INDEX} classes (255 = ignored), the model has {model.num_classes}.")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    tta = TTA(model, scales=tta_scales, flip=flip)
    was_training = model.training
    model.eval()
    names, ignored, total = [], 0, 0
    try:
        for name, image in _named_images(images_or_dataset):
            if isinstance(image, Path):
                image = _read_image(image)
            image = torch.as_tensor(image)
            x = model.normalize(to_unit_float(image.to(model.device))[None])
            probs = tta(x)[0]  # (K, H, W)
            confidence, labels = probs.max(0)
            if threshold is not None:
                labels[confidence < threshold] = IGNORE_INDEX
            labels = labels.to(torch.uint8).cpu().numpy()
            ignored += int((labels == IGNORE_INDEX).sum())
            total += labels.size
            rgb = image if image.dtype == torch.uint8 else (image.clamp(0, 1) * 255).round().to(torch.uint8)
            save_png(rgb.permute(1, 2, 0).cpu().numpy(), out_dir / "images" / f"{name}.png")
            save_png(labels, out_dir / "masks" / f"{name}.png")
            names.append(name)
    finally:
        model.train(was_training)
    result = PseudoLabels(out_dir, names, ignored / max(total, 1))
    log.info("Pseudo-labelled %d images into %s (%.1f%% pixels ignored).", len(names), out_dir, 100 * result.ignored_fraction)
    return result


@dataclass
class RoundResult:
    """One round: the teacher it started from, its pseudo labels, and the model it ended with."""

    round: int
    teacher_dir: Path
    pseudo: PseudoLabels
    student_dir: Path
    final_dir: Path  # the fine-tuned student (= the next round's teacher)
    metrics: dict[str, float] | None = field(default=None)


class SemiSupervised:
    """Teacher/student self-training rounds for semantic models.

    Args:
        build_model: makes a fresh model (``lambda: segzoo.build(name, ...)``); every student
            starts from it.
        labelled: the labelled training set; ``unlabelled``: images to pseudo-label (see
            :func:`pseudo_label` for the accepted forms).
        out_dir: ``teacher/``, then ``round_<r>/{pseudo,student,finetune}/``.
        rounds: number of student rounds (seed 001: 2).
        teacher, student, finetune: :class:`TrainConfig` of each stage (``finetune=None``
            skips fine-tuning on the labelled set, which seed 001 does not).
        student_data: ``"pseudo"`` (seed 001: the student learns from the pseudo labels only,
            then is fine-tuned) or ``"pseudo+labelled"`` (both sets at once).
        val_data: evaluated at the end of every stage.
        tta_scales, flip, threshold: pseudo-labelling options (seed 001: seven scales, flip).
        pseudo_transforms: transforms of the pseudo-labelled set (default: the labelled set's).
        trainer_options: extra keyword arguments for every :class:`Trainer`.
    """

    def __init__(
        self,
        build_model: Callable[[], nn.Module],
        labelled: Dataset,
        unlabelled: Any,
        *,
        out_dir: str | Path,
        rounds: int = 2,
        teacher: TrainConfig,
        student: TrainConfig,
        finetune: TrainConfig | None,
        student_data: str = "pseudo",
        val_data: Dataset | None = None,
        tta_scales: Sequence[float] = AINNOSEG_SCALES,
        flip: bool = True,
        threshold: float | None = None,
        pseudo_transforms: Any = None,
    ) -> None:
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}.")
        if student_data not in STUDENT_DATA:
            raise ValueError(f"student_data must be one of {STUDENT_DATA}, got {student_data!r}.")
        if student_data == "pseudo" and finetune is None:
            raise ValueError(
                "A student trained on pseudo labels only (student_data='pseudo', seed 001) is then fine-tuned on the "
                "labelled set: pass finetune=TrainConfig(...), or student_data='pseudo+labelled' to skip fine-tuning."
            )
        self.student_data = student_data
        self.build_model, self.labelled, self.unlabelled = build_model, labelled, unlabelled
        self.out_dir, self.rounds = Path(out_dir), int(rounds)
        self.configs = {"teacher": teacher, "student": student, "finetune": finetune}
        self.val_data, self.tta_scales, self.flip, self.threshold = val_data, tuple(tta_scales), flip, threshold
        self.pseudo_transforms = pseudo_transforms if pseudo_transforms is not None else getattr(labelled, "transforms", None)

    def _train(self, model: nn.Module, data: Dataset, stage: str, out: Path, resume: bool):
        from .trainer import Trainer

        trainer = Trainer(model, data, val_data=self.val_data, out_dir=out, config=self.configs[stage])
        result = trainer.fit(resume=resume)
        return result.metrics

    def run(self, *, resume: bool = False) -> list[RoundResult]:
        """Train the teacher, then ``rounds`` students; returns one :class:`RoundResult` per round.

        With ``resume`` every stage continues from its own ``last`` checkpoint (finished
        stages are not trained again).
        """
        model = self.build_model()
        if model.task != "semantic":
            raise TypeError(
                "SemiSupervised trains semantic models; for a panoptic teacher call pseudo_label (its semantic "
                "branch) and train a semantic student on the result."
            )
        self._train(model, self.labelled, "teacher", self.out_dir / "teacher", resume)
        teacher_dir = self.out_dir / "teacher" / "last"
        teacher, results = model, []
        for r in range(1, self.rounds + 1):
            round_dir = self.out_dir / f"round_{r}"
            log.info("Round %d: pseudo-labelling with the teacher from %s.", r, teacher_dir)
            pseudo = pseudo_label(
                teacher, self.unlabelled, round_dir / "pseudo", tta_scales=self.tta_scales, flip=self.flip,
                threshold=self.threshold,
            )  # fmt: skip
            pseudo_set = pseudo.dataset(num_classes=teacher.num_classes, transforms=self.pseudo_transforms)
            student = self.build_model()
            student_set = pseudo_set if self.student_data == "pseudo" else ConcatDataset([self.labelled, pseudo_set])
            self._train(student, student_set, "student", round_dir / "student", resume)
            final_dir, metrics = round_dir / "student" / "last", None
            if self.configs["finetune"] is not None:
                metrics = self._train(student, self.labelled, "finetune", round_dir / "finetune", resume)
                final_dir = round_dir / "finetune" / "last"
            results.append(RoundResult(r, teacher_dir, pseudo, round_dir / "student" / "last", final_dir, metrics))
            teacher, teacher_dir = student, final_dir
        return results
