"""The vocabulary of MMSegmentation's configs (version 1.2.2) that the baseline recipes share: schedules,
per-dataset batch, augmentation and evaluation, the ImageNet initialisation, and the builders that register
one MMSegmentation-reproduced recipe (``mmseg_recipe``) or one per dataset (``mmseg_recipes``)."""

from __future__ import annotations

from typing import Mapping, NamedTuple

from .recipe import Cited, TrainRecipe, cite
from .registry import register_train_recipe

MMSEG = "MMSegmentation 1.2.2"

# --------------------------------------------------------------------------------------- MMSegmentation


def _mmseg_schedule(iters: int) -> dict[str, Cited]:
    """``_base_/schedules/schedule_<N>k.py``: SGD 0.01, momentum 0.9, wd 5e-4, poly 0.9 down to 1e-4."""
    src = f"{MMSEG} configs/_base_/schedules/schedule_{iters // 1000}k.py"
    return {
        **cite(f"{src}: SGD lr=0.01, momentum=0.9, weight_decay=0.0005", optimizer="sgd", lr=0.01, momentum=0.9,
               weight_decay=5e-4),
        **cite(f"{src}: PolyLR power=0.9, by iteration", schedule="poly", power=0.9),
        **cite(f"{src}: PolyLR eta_min=1e-4 = 0.01 x the base lr", min_lr_ratio=0.01),
        **cite(f"{src}: IterBasedTrainLoop max_iters={iters}", max_iters=iters),
    }


MMSEG_SYNC_BN = cite(f"{MMSEG} configs/_base_/models/*-d8.py, ocrnet_hr18.py: norm_cfg=dict(type='SyncBN')",
                     sync_bn=True)
MMSEG_GPUS = Cited(4, f"{MMSEG} config names '4xbN' (4 GPUs; metafile.yaml: 'Training Resources: 4x V100 GPUS')")

ADE_CONFIG = f"{MMSEG} configs/_base_/datasets/ade20k.py"
CITYSCAPES_CONFIG = f"{MMSEG} configs/_base_/datasets/cityscapes.py"
VOC_CONFIG = f"{MMSEG} configs/_base_/datasets/pascal_voc12_aug.py"

ADE20K_BATCH = cite(f"{ADE_CONFIG}: train_dataloader batch_size=4 per GPU x 4 GPUs ('4xb4')", batch_size=16)
CITYSCAPES_BATCH = cite(f"{CITYSCAPES_CONFIG}: train_dataloader batch_size=2 per GPU x 4 GPUs ('4xb2')", batch_size=8)
VOC_BATCH = cite(f"{VOC_CONFIG}: train_dataloader batch_size=4 per GPU x 4 GPUs ('4xb4')", batch_size=16)

ADE20K_DATA = {
    **cite(f"{ADE_CONFIG}: RandomCrop crop_size=(512, 512), cat_max_ratio=0.75", crop=(512, 512)),
    **cite(f"{ADE_CONFIG}: RandomResize scale=(2048, 512) keep_ratio, i.e. short side 512 (long side at most 2048)",
           base_size=512),
    **cite(f"{ADE_CONFIG}: RandomResize ratio_range=(0.5, 2.0)", scale_range=(0.5, 2.0)),
    **cite(f"{ADE_CONFIG}: RandomFlip prob=0.5", flip=True),
    **cite(f"{ADE_CONFIG}: PhotoMetricDistortion", photometric=True),
}
CITYSCAPES_DATA = {
    **cite(f"{CITYSCAPES_CONFIG}: RandomCrop crop_size=(512, 1024), cat_max_ratio=0.75", crop=(512, 1024)),
    **cite(f"{CITYSCAPES_CONFIG}: RandomResize scale=(2048, 1024) keep_ratio, i.e. short side 1024", base_size=1024),
    **cite(f"{CITYSCAPES_CONFIG}: RandomResize ratio_range=(0.5, 2.0)", scale_range=(0.5, 2.0)),
    **cite(f"{CITYSCAPES_CONFIG}: RandomFlip prob=0.5", flip=True),
    **cite(f"{CITYSCAPES_CONFIG}: PhotoMetricDistortion", photometric=True),
}
VOC_DATA = {
    **cite(f"{VOC_CONFIG}: RandomCrop crop_size=(512, 512), cat_max_ratio=0.75", crop=(512, 512)),
    **cite(f"{VOC_CONFIG}: RandomResize scale=(2048, 512) keep_ratio, i.e. short side 512", base_size=512),
    **cite(f"{VOC_CONFIG}: RandomResize ratio_range=(0.5, 2.0)", scale_range=(0.5, 2.0)),
    **cite(f"{VOC_CONFIG}: RandomFlip prob=0.5", flip=True),
    **cite(f"{VOC_CONFIG}: PhotoMetricDistortion", photometric=True),
}


def _mmseg_eval(src: str, short_side: int) -> dict[str, Cited]:
    """MMSegmentation's single-scale evaluation of the dataset config ``src``, whole images at ``short_side``."""
    return {
        **cite(f"{src}: test_pipeline Resize keep_ratio to short side {short_side}; model test_cfg mode='whole'",
               mode="whole", resize=short_side),
        **cite(f"{MMSEG} metafile.yaml: the 'mIoU' column is single scale without flip (the 'mIoU(ms+flip)' column "
               "uses tta_pipeline img_ratios 0.5-1.75 and flip)", scales=(1.0,), flip=False),
        **cite(f"{src}: val_evaluator IoUMetric iou_metrics=['mIoU']", metric="mIoU"),
    }


ADE20K_EVAL = _mmseg_eval(ADE_CONFIG, 512)
CITYSCAPES_EVAL = _mmseg_eval(CITYSCAPES_CONFIG, 1024)
VOC_EVAL = _mmseg_eval(VOC_CONFIG, 512)

IMAGENET_INIT = f"{MMSEG} configs/_base_/models/*: pretrained='open-mmlab://resnetNN_v1c' (ImageNet)"
AUX_04 = f"{MMSEG} configs/_base_/models/*-d8.py: auxiliary_head FCNHead on stage 3, loss_weight=0.4"
MMSEG_OPTIONS = {**cite(IMAGENET_INIT, pretrained_backbone=True), **cite(AUX_04, aux=True)}

MMSEG_NOTES = (
    "MMSegmentation applies weight decay 5e-4 to every parameter (no paramwise_cfg), segzoo none on norms and "
    "biases; MMSegmentation's PolyLR decays to eta_min=1e-4 (min_lr_ratio 0.01, the poly schedule's floor). "
    "Its ResNet is ResNetV1c (deep stem, backbone='resnet50_v1c' in segzoo) initialised from "
    "open-mmlab's ImageNet weights."
)
VOC_AUG_NOTE = (
    " VOC: MMSegmentation trains on train + SBD aug (ConcatDataset of SegmentationClass and SegmentationClassAug, "
    "10582 images): use --train-split train_aug. MMSegmentation has 20k and 40k VOC configs; the 40k one is used."
)


class _MMSegDataset(NamedTuple):
    """How MMSegmentation's configs train on one dataset kind."""

    name: str  # the config name's part after the model: GPUs x batch, schedule ({} thousand iterations), data, crop
    iters: int  # the usual schedule's iterations
    batch: dict[str, Cited]
    data: dict[str, Cited]
    evaluation: dict[str, Cited]


_MMSEG_DATASETS = {
    "voc": _MMSegDataset("4xb4-{}k_voc12aug-512x512", 40000, VOC_BATCH, VOC_DATA, VOC_EVAL),
    "ade20k": _MMSegDataset("4xb4-{}k_ade20k-512x512", 80000, ADE20K_BATCH, ADE20K_DATA, ADE20K_EVAL),
    "cityscapes": _MMSegDataset("4xb2-{}k_cityscapes-512x1024", 80000, CITYSCAPES_BATCH, CITYSCAPES_DATA,
                                CITYSCAPES_EVAL),
}


def mmseg_config(stem: str, dataset: str, *, iters: int | None = None) -> str:
    """MMSegmentation's config ``configs/<stem>_<GPUs x batch>-<N>k_<dataset>-<crop>.py`` for ``dataset`` (cited
    with the version), at ``iters`` iterations or the dataset's usual schedule (VOC 40k, ADE20K and Cityscapes 80k)."""
    setting = _MMSEG_DATASETS[dataset]
    return f"{MMSEG} configs/{stem}_{setting.name.format((iters or setting.iters) // 1000)}.py"


def checkpoint_note(dataset: str, miou: float) -> str:
    """The sentence of the notes saying the weights tag ``mmseg_<dataset>`` is the config's checkpoint (``miou``)."""
    return f" The weights tag mmseg_{dataset} is this config's checkpoint ({miou} mIoU)."


def mmseg_recipe(model: str, dataset: str, stem: str, *, method: str, notes: str = "", iters: int | None = None,
                 model_options: Mapping[str, Cited] = MMSEG_OPTIONS, extra: str = "") -> TrainRecipe:
    """Register MMSegmentation's config (:func:`mmseg_config` of ``stem``) as ``model``'s recipe on ``dataset``: its
    schedule, batch, augmentation and evaluation on 4 GPUs with SyncBN. ``method`` names the paper the config
    reproduces; the notes are ``notes`` (the model's), MMSEG_NOTES, VOC_AUG_NOTE on VOC, then ``extra``."""
    setting = _MMSEG_DATASETS[dataset]
    iters = iters or setting.iters
    return register_train_recipe(TrainRecipe(
        model=model, dataset=dataset,
        paper=f"{method} (reproduced by {mmseg_config(stem, dataset, iters=iters)})",
        gpus=MMSEG_GPUS,
        train={**_mmseg_schedule(iters), **setting.batch, **MMSEG_SYNC_BN},
        data=setting.data,
        model_options=model_options,
        evaluation=setting.evaluation,
        notes=notes + MMSEG_NOTES + (VOC_AUG_NOTE if dataset == "voc" else "") + extra,
    ))


def mmseg_recipes(model: str, stem: str, datasets: tuple[str, ...], *, method: str, notes: str = "",
                  model_options: Mapping[str, Cited] = MMSEG_OPTIONS,
                  checkpoints: Mapping[str, float] | None = None) -> None:
    """:func:`mmseg_recipe` on each of ``datasets`` in turn (the first is the model's default); ``checkpoints`` maps a
    dataset to the mIoU of the config's checkpoint, named in that recipe's notes (:func:`checkpoint_note`)."""
    for dataset in datasets:
        miou = (checkpoints or {}).get(dataset)
        mmseg_recipe(model, dataset, stem, method=method, notes=notes, model_options=model_options,
                     extra="" if miou is None else checkpoint_note(dataset, miou))


def mmseg_os8_options(source: str) -> dict[str, Cited]:
    """MMSEG_OPTIONS with the output stride 8 of MMSegmentation's D8 models, cited to ``source``."""
    return {**cite(IMAGENET_INIT, pretrained_backbone=True), **cite(source, output_stride=8), **cite(AUX_04, aux=True)}
