"""Training recipes of the single-scale semantic baselines: FCN, DeepLabV3, DeepLabV3+, PSPNet, DANet,
Non-local, OCRNet and DeepLab-LargeFOV.

segzoo's ResNet and HRNet baselines are MMSegmentation's dilated (output stride 8) models, so their
recipes are MMSegmentation's configs for the same model (version 1.2.2: ``configs/<method>/<name>.py``
with ``_base_/schedules/schedule_{40,80,160}k.py`` and ``_base_/datasets/{ade20k,cityscapes,pascal_voc12_aug}.py``),
each naming the paper it reproduces. Where a paper states its own recipe for its main dataset, that
recipe is used there and cited by section: DeepLabV3 (arXiv:1706.05587 Sec. 4.1) and DeepLabV3+
(arXiv:1802.02611 Sec. 4) on PASCAL VOC, with the momentum and weight decay of the authors' TensorFlow
code (tensorflow/models ``research/deeplab/train.py``); PSPNet (arXiv:1612.01105 Sec. 5.1) on ADE20K;
DeepLab-LargeFOV (arXiv:1412.7062 Sec. 5, and the "original step setting" of its journal version
arXiv:1606.00915 Sec. 4.1.2). Values a paper leaves out are filled from the MMSegmentation config and cited
as such; what neither gives is left out and named in ``notes``.
"""

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

_ADE = f"{MMSEG} configs/_base_/datasets/ade20k.py"
_CITY = f"{MMSEG} configs/_base_/datasets/cityscapes.py"
_VOC = f"{MMSEG} configs/_base_/datasets/pascal_voc12_aug.py"

ADE20K_BATCH = cite(f"{_ADE}: train_dataloader batch_size=4 per GPU x 4 GPUs ('4xb4')", batch_size=16)
CITYSCAPES_BATCH = cite(f"{_CITY}: train_dataloader batch_size=2 per GPU x 4 GPUs ('4xb2')", batch_size=8)
VOC_BATCH = cite(f"{_VOC}: train_dataloader batch_size=4 per GPU x 4 GPUs ('4xb4')", batch_size=16)

ADE20K_DATA = {
    **cite(f"{_ADE}: RandomCrop crop_size=(512, 512), cat_max_ratio=0.75", crop=(512, 512)),
    **cite(f"{_ADE}: RandomResize scale=(2048, 512) keep_ratio, i.e. short side 512 (long side at most 2048)",
           base_size=512),
    **cite(f"{_ADE}: RandomResize ratio_range=(0.5, 2.0)", scale_range=(0.5, 2.0)),
    **cite(f"{_ADE}: RandomFlip prob=0.5", flip=True),
    **cite(f"{_ADE}: PhotoMetricDistortion", photometric=True),
}
CITYSCAPES_DATA = {
    **cite(f"{_CITY}: RandomCrop crop_size=(512, 1024), cat_max_ratio=0.75", crop=(512, 1024)),
    **cite(f"{_CITY}: RandomResize scale=(2048, 1024) keep_ratio, i.e. short side 1024", base_size=1024),
    **cite(f"{_CITY}: RandomResize ratio_range=(0.5, 2.0)", scale_range=(0.5, 2.0)),
    **cite(f"{_CITY}: RandomFlip prob=0.5", flip=True),
    **cite(f"{_CITY}: PhotoMetricDistortion", photometric=True),
}
VOC_DATA = {
    **cite(f"{_VOC}: RandomCrop crop_size=(512, 512), cat_max_ratio=0.75", crop=(512, 512)),
    **cite(f"{_VOC}: RandomResize scale=(2048, 512) keep_ratio, i.e. short side 512", base_size=512),
    **cite(f"{_VOC}: RandomResize ratio_range=(0.5, 2.0)", scale_range=(0.5, 2.0)),
    **cite(f"{_VOC}: RandomFlip prob=0.5", flip=True),
    **cite(f"{_VOC}: PhotoMetricDistortion", photometric=True),
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


ADE20K_EVAL = _mmseg_eval(_ADE, 512)
CITYSCAPES_EVAL = _mmseg_eval(_CITY, 1024)
VOC_EVAL = _mmseg_eval(_VOC, 512)

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


def _mmseg_os8_options(source: str) -> dict[str, Cited]:
    """MMSEG_OPTIONS with the output stride 8 of MMSegmentation's D8 models, cited to ``source``."""
    return {**cite(IMAGENET_INIT, pretrained_backbone=True), **cite(source, output_stride=8), **cite(AUX_04, aux=True)}


# --------------------------------------------------------------------------------------- DeepLab (paper)

DLV3 = "arXiv:1706.05587 Sec. 4.1"
DLV3P = "arXiv:1802.02611 Sec. 4"
TF_DEEPLAB = "tensorflow/models research/deeplab/train.py (the authors' code)"
RESNET_WEIGHT_DECAY = cite(f"{TF_DEEPLAB}: 'use 0.0001 for ResNet model variants'", weight_decay=1e-4)

DEEPLAB_VOC_TRAIN = {
    **cite(f"{DLV3}: 'poly' policy, power = 0.9", schedule="poly", power=0.9),
    **cite(f"{DLV3}: initial learning rate = 0.007 on trainaug", lr=0.007),
    **cite(f"{DLV3}: batch normalization statistics with a batch size of 16", batch_size=16, sync_bn=True),
    **cite(f"{DLV3}: 30K iterations on trainaug at output stride 16 (the first of its two stages)", max_iters=30000),
    **cite(f"{TF_DEEPLAB}: tf.train.MomentumOptimizer, flag momentum=0.9 (the paper names neither)", optimizer="sgd",
           momentum=0.9),
}
DEEPLAB_VOC_DATA = {
    **cite(f"{DLV3}: crop size 513 during both training and test", crop=(513, 513)),
    **cite(f"{DLV3}: randomly scaling the input images (from 0.5 to 2.0)", scale_range=(0.5, 2.0)),
    **cite(f"{DLV3}: randomly left-right flipping", flip=True),
    **cite(f"{DLV3}: the augmentation is scaling and flipping only", photometric=False),
}
DEEPLAB_VOC_EVAL = {
    **cite(f"{DLV3}: crop size 513 at test (whole image, padded)", mode="whole"),
    **cite(f"{DLV3} / Tables 4-6: single-scale numbers (MS inputs 0.5-1.75 and flips are the extra 'MS'/'Flip' "
           "rows)", scales=(1.0,), flip=False),
    **cite("arXiv:1706.05587 Sec. 4: mean IOU over the 21 classes", metric="mIoU"),
}
DEEPLAB_VOC_NOTES = (
    "Stage 1 of the paper's protocol (trainaug, output stride 16, BN trained); stage 2 (freeze BN, output stride 8, "
    "VOC trainval, 30K more iterations at lr 0.001) and inference at output stride 8 are not encoded. Train on "
    "--train-split train_aug (10582 images). The authors' code draws scale factors 0.5:0.25:2.0 of the native image "
    "(scale_factor_step_size 0.25); segzoo draws them continuously from its base short side. BN decay 0.9997 (the "
    "paper) is not a segzoo option. Weight decay is the authors' code's value, which the paper does not state."
)
DLV3P_VOC_TRAIN = {
    **cite(f"{DLV3P}: the same training protocol as DeepLabV3: 'poly' policy", schedule="poly"),
    **cite(f"{DLV3P}: same initial learning rate 0.007", lr=0.007),
    **cite(f"{DLV3P} defers to DeepLabV3's protocol; {DLV3}: power 0.9, batch 16, 30K iterations", power=0.9,
           batch_size=16, max_iters=30000),
    **cite(f"{DLV3P}: fine-tuning batch normalization (statistics over the batch of 16, {DLV3})", sync_bn=True),
    **cite(f"{TF_DEEPLAB}: MomentumOptimizer, momentum=0.9", optimizer="sgd", momentum=0.9),
}
DLV3P_VOC_DATA = {
    **cite(f"{DLV3P}: crop size 513 x 513", crop=(513, 513)),
    **cite(f"{DLV3P}: random scale data augmentation; {DLV3}: 0.5 to 2.0", scale_range=(0.5, 2.0)),
    **cite(f"{DLV3}: randomly left-right flipping (the protocol DeepLabV3+ follows)", flip=True),
    **cite(f"{DLV3}: scaling and flipping only", photometric=False),
}
DLV3P_VOC_EVAL = {
    **cite(f"{DLV3}: crop size 513 at test (whole image, padded)", mode="whole"),
    **cite("arXiv:1802.02611 Sec. 4: single-scale val numbers (multi-scale and flipped inputs are separate columns "
           "of its inference tables)", scales=(1.0,), flip=False),
    **cite(f"{DLV3P}: pixel intersection-over-union averaged across the 21 classes (mIOU)", metric="mIoU"),
}


def deeplab_paper_options(*, pretrained: str, output_stride: str, aux: str) -> dict[str, Cited]:
    """The DeepLab papers' model options, each cited to its source: ImageNet initialisation, output stride 16 in
    training, no auxiliary loss."""
    return {
        **cite(pretrained, pretrained_backbone=True),
        **cite(output_stride, output_stride=16),
        **cite(aux, aux=False),
    }


def deeplab_voc_recipe(model: str, *, plus: bool, weight_decay: Mapping[str, Cited],
                       model_options: Mapping[str, Cited], notes: str, layout: str = "") -> TrainRecipe:
    """Register the DeepLab papers' own PASCAL VOC recipe for ``model``: DeepLabV3's (arXiv:1706.05587 Sec. 4.1) or,
    with ``plus``, DeepLabV3+'s (arXiv:1802.02611 Sec. 4, the same protocol), with the authors' code's
    ``weight_decay`` for the backbone. ``layout`` ends the paper's name; the notes are DEEPLAB_VOC_NOTES, then
    ``notes``."""
    if plus:
        arxiv, paper = "arXiv:1802.02611", f"DeepLabV3+, {DLV3P} (PASCAL VOC 2012 trainaug; protocol of {DLV3})"
        train, data, evaluation = DLV3P_VOC_TRAIN, DLV3P_VOC_DATA, DLV3P_VOC_EVAL
    else:
        arxiv, paper = "arXiv:1706.05587", f"DeepLabV3, {DLV3} (PASCAL VOC 2012 trainaug)"
        train, data, evaluation = DEEPLAB_VOC_TRAIN, DEEPLAB_VOC_DATA, DEEPLAB_VOC_EVAL
    return register_train_recipe(TrainRecipe(
        model=model, dataset="voc",
        paper=paper + layout,
        gpus=Cited(1, f"not stated in {arxiv}; {TF_DEEPLAB} flag num_clones=1"),
        train={**train, **weight_decay},
        data=data,
        model_options=model_options,
        evaluation=evaluation,
        notes=DEEPLAB_VOC_NOTES + notes,
    ))


# =========================================================================================== FCN

FCN = "FCN, arXiv:1411.4038"
FCN_NOTES = (
    "FCN (arXiv:1411.4038) trains VGG16 FCN-32s/16s/8s (fixed lr 1e-4, momentum 0.99, batch 20): a recipe for a "
    "different network, so segzoo's dilated ResNet FCN takes MMSegmentation's FCN R-D8 config, whose head is "
    "head_convs=2, concat_input=True (segzoo's default is torchvision's one conv). "
)

mmseg_recipes("fcn_r50", "fcn/fcn_r50-d8", ("voc", "ade20k", "cityscapes"), method=FCN, notes=FCN_NOTES,
              checkpoints={"ade20k": 35.94, "cityscapes": 73.61})
mmseg_recipes("fcn_r101", "fcn/fcn_r101-d8", ("voc", "ade20k", "cityscapes"), method=FCN, notes=FCN_NOTES)

# =========================================================================================== DeepLabV3

DEEPLABV3 = "DeepLabV3, arXiv:1706.05587"
DLV3_MMSEG_NOTES = (
    "MMSegmentation's ASPPHead is segzoo's head_layout='mmseg' with channels=512 (segzoo's default is torchvision's "
    "layout, 256 channels). "
)
DLV3_RESNET_OPTIONS = deeplab_paper_options(
    pretrained="arXiv:1706.05587 Sec. 4: ImageNet-pretrained ResNet",
    output_stride=f"{DLV3}: trained at output_stride = 16 (ASPP rates 6/12/18)",
    aux="arXiv:1706.05587 Sec. 3-4: one classifier after ASPP, no auxiliary loss",
)

deeplab_voc_recipe("deeplabv3_r50", plus=False, weight_decay=RESNET_WEIGHT_DECAY, model_options=DLV3_RESNET_OPTIONS,
                   notes=" The paper uses ResNet-101 with multi-grid (1, 2, 4); segzoo's ResNet-50 has none.")
mmseg_recipe("deeplabv3_r50", "ade20k", "deeplabv3/deeplabv3_r50-d8", method=DEEPLABV3, notes=DLV3_MMSEG_NOTES,
             extra=checkpoint_note("ade20k", 42.42))
mmseg_recipe("deeplabv3_r50", "cityscapes", "deeplabv3/deeplabv3_r50-d8", method=DEEPLABV3, notes=DLV3_MMSEG_NOTES,
             extra=checkpoint_note("cityscapes", 79.32)
             + " The paper's own Cityscapes runs (its appendix) are not encoded.")
deeplab_voc_recipe("deeplabv3_r101", plus=False, weight_decay=RESNET_WEIGHT_DECAY, model_options=DLV3_RESNET_OPTIONS,
                   notes=" The paper's ResNet-101 uses multi-grid (1, 2, 4) in block4; segzoo's has none.")
mmseg_recipes("deeplabv3_r101", "deeplabv3/deeplabv3_r101-d8", ("ade20k", "cityscapes"), method=DEEPLABV3,
              notes=DLV3_MMSEG_NOTES)
deeplab_voc_recipe(
    "deeplabv3_mobilenetv3", plus=False, layout=", on torchvision's MobileNetV3-Large layout",
    weight_decay=cite("pytorch/vision references/segmentation/README.md, deeplabv3_mobilenet_v3_large: --wd 0.000001",
                      weight_decay=1e-6),
    model_options=deeplab_paper_options(
        pretrained="arXiv:1706.05587 Sec. 4: ImageNet-pretrained backbone",
        output_stride=f"{DLV3}: trained at output_stride = 16 (segzoo's default for this model)",
        aux="arXiv:1706.05587 Sec. 3-4: no auxiliary loss",
    ),
    notes=" The DeepLabV3 paper has no MobileNetV3 model; segzoo's follows torchvision's "
    "deeplabv3_mobilenet_v3_large, whose only published recipe (references/segmentation README: 8 GPUs x 4 images, "
    "--aux-loss (weight 0.5, aux head at 10x lr), --wd 1e-6, 30 epochs, base 520 / crop 480, poly 0.9) trains on "
    "COCO train2017 restricted to the VOC categories, not a segzoo data kind; its weight decay is used here. "
    "torchvision keeps ASPP rates 12/24/36 at output stride 16 (the paper's are 6/12/18 there).",
)

# =========================================================================================== DeepLabV3+

DEEPLABV3P = "DeepLabV3+, arXiv:1802.02611"
DLV3P_MMSEG_NOTES = (
    "MMSegmentation's DeepLabV3+ is D8 (output stride 8, DepthwiseSeparableASPPHead, 512 channels: segzoo "
    "head_layout='mmseg', channels=512) with an auxiliary FCN head (weight 0.4); the paper's is output stride 16 "
    "without one. "
)
DLV3P_R50_BASE = f"{MMSEG} configs/_base_/models/deeplabv3plus_r50-d8.py"

deeplab_voc_recipe(
    "deeplabv3p_r50", plus=True, weight_decay=RESNET_WEIGHT_DECAY,
    model_options=deeplab_paper_options(
        pretrained="arXiv:1802.02611 Sec. 4: ImageNet-1k pretrained ResNet-101",
        output_stride=f"{DLV3P}: output_stride = 16 in training",
        aux="arXiv:1802.02611 Sec. 3: encoder-decoder with one output, no auxiliary loss",
    ),
    notes=" The paper's backbones are ResNet-101 and aligned Xception; iterations and batch come from the DeepLabV3 "
    "protocol it refers to.",
)
mmseg_recipe(
    "deeplabv3p_r50", "ade20k", "deeplabv3plus/deeplabv3plus_r50-d8", method=DEEPLABV3P, notes=DLV3P_MMSEG_NOTES,
    model_options=_mmseg_os8_options(f"{DLV3P_R50_BASE}: ResNetV1c dilations (1, 1, 2, 4), strides (1, 2, 1, 1): "
                                     "output stride 8"),
    extra=checkpoint_note("ade20k", 42.72),
)
mmseg_recipe(
    "deeplabv3p_r50", "cityscapes", "deeplabv3plus/deeplabv3plus_r50-d8", method=DEEPLABV3P, notes=DLV3P_MMSEG_NOTES,
    model_options=_mmseg_os8_options(f"{DLV3P_R50_BASE}: output stride 8"),
    extra=checkpoint_note("cityscapes", 80.09),
)

MV2 = "mobilenet_v2/mobilenet-v2-d8_deeplabv3plus"
MV2_CITY = mmseg_config(MV2, "cityscapes")
MV2_ADE = mmseg_config(MV2, "ade20k", iters=160000)
MV2_NOTES = (
    "MMSegmentation's MobileNetV2 is dilated to output stride 8 (strides (1, 2, 2, 1, 1, 1, 1), dilations "
    "(1, 1, 1, 2, 2, 4, 4)) and initialised from mmcls://mobilenet_v2; its auxiliary FCN head reads the 96-channel "
    "level (weight 0.4). segzoo's default is output stride 16 without the auxiliary head (seed 003's light baseline). "
)


def _mv2_options(config: str) -> dict[str, Cited]:
    """The model options of MMSegmentation's DeepLabV3+ MobileNetV2 ``config``: ImageNet weights, output stride 8,
    auxiliary FCN head."""
    return {
        **cite(f"{config}: pretrained='mmcls://mobilenet_v2' (ImageNet)", pretrained_backbone=True),
        **cite(f"{config}: MobileNetV2 strides (1, 2, 2, 1, 1, 1, 1): output stride 8", output_stride=8),
        **cite(f"{config}: auxiliary_head in_channels=96 (FCNHead, loss_weight 0.4)", aux=True),
    }


deeplab_voc_recipe(
    "deeplabv3p_mobilenetv2", plus=True,
    weight_decay=cite(f"{TF_DEEPLAB}: 'use 0.00004 for MobileNet-V2'", weight_decay=4e-5),
    model_options=deeplab_paper_options(
        pretrained="arXiv:1802.02611 Sec. 4: ImageNet-pretrained backbone",
        output_stride=f"{DLV3P}: output_stride = 16 in training (segzoo's default)",
        aux="arXiv:1802.02611 Sec. 3: no auxiliary loss (segzoo's default)",
    ),
    notes=" The DeepLabV3+ paper reports no MobileNetV2 model (its code's model zoo has one); the recipe is the "
    "paper's protocol with the code's MobileNet-V2 weight decay.",
)
mmseg_recipe(
    "deeplabv3p_mobilenetv2", "cityscapes", MV2, method=f"{DEEPLABV3P} on MobileNetV2", notes=MV2_NOTES,
    model_options=_mv2_options(MV2_CITY),
    extra=" Seed 003 (a student reproduction of HMSA) trained this model per scale for 5-7 epochs on a small GPU "
    "(its Table 2); that is not a recipe of the paper.",
)
mmseg_recipe(
    "deeplabv3p_mobilenetv2", "ade20k", MV2, method=f"{DEEPLABV3P} on MobileNetV2", notes=MV2_NOTES, iters=160000,
    model_options=_mv2_options(MV2_ADE), extra=" MMSegmentation has only the 160k ADE20K schedule for this model.",
)

# =========================================================================================== PSPNet

PSP = "arXiv:1612.01105 Sec. 5.1"

register_train_recipe(TrainRecipe(
    model="pspnet_r50", dataset="ade20k",
    paper="PSPNet, arXiv:1612.01105 Sec. 5.1 (ImageNet scene parsing challenge 2016 = ADE20K)",
    gpus=Cited(4, f"not stated in {PSP} (Caffe, BN over data gathered from several GPUs); as {MMSEG} "
               "configs/pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py"),
    train={
        **cite(f"{PSP}: 'poly' policy, base learning rate 0.01, power 0.9", schedule="poly", lr=0.01, power=0.9),
        **cite(f"{PSP}: momentum 0.9 and weight decay 0.0001", optimizer="sgd", momentum=0.9, weight_decay=1e-4),
        **cite(f"{PSP}: 150K iterations for the ImageNet (ADE20K) experiment", max_iters=150000),
        **cite(f"{PSP}: 'batchsize' 16, batch normalization on data gathered from multiple GPUs", batch_size=16,
               sync_bn=True),
    },
    data={
        **cite(f"{PSP}: random resize between 0.5 and 2", scale_range=(0.5, 2.0)),
        **cite(f"{PSP}: random mirror", flip=True),
        **cite(f"{PSP}: mirror, resize, rotation (-10..10 degrees), Gaussian blur; no colour distortion",
               photometric=False),
        **cite(f"not in {PSP}; {_ADE}: crop 512 x 512", crop=(512, 512)),
        **cite(f"not in {PSP}; {_ADE}: short side 512", base_size=512),
    },
    model_options={
        **cite("arXiv:1612.01105 Sec. 3-4: pretrained (ImageNet) ResNet, dilated", pretrained_backbone=True),
        **cite(f"{PSP}: auxiliary loss weight 0.4 (segzoo's aux head weight)", aux=True),
    },
    evaluation={
        **cite("arXiv:1612.01105 Table 1: single-scale input on the validation set", scales=(1.0,), flip=False),
        **cite(f"{_ADE}: whole image, short side 512 (the paper does not state its test resolution)", mode="whole",
               resize=512),
        **cite("arXiv:1612.01105 Sec. 5.2: mean IoU and pixel accuracy", metric="mIoU"),
    },
    notes="Random rotation and Gaussian blur (paper) are not segzoo augmentations. The paper gives no crop size "
    "(the authors' released models use 473); MMSegmentation's 512 is used. The paper's final ADE20K numbers add "
    "multi-scale testing. The weights tag mmseg_ade20k is MMSegmentation's 80k-iteration run of this model "
    "(configs/pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py, 41.13 mIoU), not this 150K-iteration recipe.",
))
mmseg_recipe("pspnet_r50", "voc", "pspnet/pspnet_r50-d8", method="PSPNet, arXiv:1612.01105",
             extra=f" The paper ({PSP}) trains VOC for 30K iterations at lr 0.01, wd 1e-4, batch 16.")
mmseg_recipe("pspnet_r50", "cityscapes", "pspnet/pspnet_r50-d8", method="PSPNet, arXiv:1612.01105",
             extra=f" The paper ({PSP}) trains Cityscapes for 90K iterations at lr 0.01, wd 1e-4, batch 16."
             + checkpoint_note("cityscapes", 78.55))

# =========================================================================================== DANet

DANET_LOSS = (f"{MMSEG} configs/_base_/models/danet_r50-d8.py: DAHead loss_weight 1.0 on each of pam_cam, pam, cam; "
              "auxiliary FCNHead 0.4")
DANET_NOTES = (
    "DANet's paper (arXiv:1809.02983 Sec. 4.2) gives its own Cityscapes setting, which could not be read here: "
    "MMSegmentation's config is used for every dataset, Cityscapes (the paper's main dataset) first. "
)
DANET_OPTIONS = {
    **cite(IMAGENET_INIT, pretrained_backbone=True),
    **cite(DANET_LOSS, aux=True, loss_weights={"logits": 1.0, "position": 1.0, "channel": 1.0, "aux": 0.4}),
}

mmseg_recipes("danet_r50", "danet/danet_r50-d8", ("cityscapes", "ade20k", "voc"), method="DANet, arXiv:1809.02983",
              notes=DANET_NOTES, model_options=DANET_OPTIONS, checkpoints={"cityscapes": 79.34, "ade20k": 41.66})

# =========================================================================================== Non-local

NL_NOTES = (
    "The Non-local paper (arXiv:1711.07971) trains video classification and COCO detection, not semantic "
    "segmentation: MMSegmentation's NLHead configs are the recipe (VOC first, segzoo's default 21 classes). "
    "MMSegmentation's NLHead divides the affinity by sqrt(channels) (use_scale=True: segzoo scaled_affinity=True; "
    "the default False is the paper's). "
)

mmseg_recipes("nonlocal_r50", "nonlocal_net/nonlocal_r50-d8", ("voc", "ade20k", "cityscapes"),
              method="Non-local, arXiv:1711.07971", notes=NL_NOTES, checkpoints={"ade20k": 40.75, "cityscapes": 78.01})

# =========================================================================================== OCRNet

OCR_LOSS = (f"{MMSEG} configs/_base_/models/ocrnet_hr18.py: cascade FCNHead (soft object regions) loss_weight 0.4, "
            "OCRHead 1.0 (the OCR paper's auxiliary weight 0.4; HRNet-OCR's BALANCE_WEIGHTS [0.4, 1])")
OCR_NOTES = (
    "The OCR paper (arXiv:1909.11065) states per-dataset settings for ResNet-101/HRNetV2-W48 that could not be read "
    "here; segzoo's OCRNet is MMSegmentation's (bilinear-fuse HRNet, align_corners=False), so its configs are the "
    "recipe, Cityscapes (the paper's first dataset) first. The authors' HRNet-OCR Cityscapes run "
    "(HRNet-Semantic-Segmentation "
    "experiments/cityscapes/seg_hrnet_ocr_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml: "
    "4 GPUs x 3, lr 0.01, wd 5e-4, 484 epochs, crop 512 x 1024) belongs to the align_corners=True trunk "
    "(weights tag hrnet_cityscapes). "
)


def _ocr_options(width: int) -> dict[str, Cited]:
    """The model options of MMSegmentation's OCRNet on HRNetV2-W``width``: ImageNet weights, the cascade's losses."""
    return {
        **cite(f"{MMSEG} configs/_base_/models/ocrnet_hr18.py (and ocrnet_hr48_*): pretrained="
               f"'open-mmlab://msra/hrnetv2_w{width}' (ImageNet)", pretrained_backbone=True),
        **cite(OCR_LOSS, loss_weights={"logits": 1.0, "coarse": 0.4}),
    }


for _width, _checkpoints in ((18, {"cityscapes": 78.57, "ade20k": 37.79}), (48, {"cityscapes": 80.7, "ade20k": 43.0})):
    mmseg_recipes(f"ocrnet_hrnet_w{_width}", f"ocrnet/ocrnet_hr{_width}", ("cityscapes", "ade20k", "voc"),
                  method="OCRNet, arXiv:1909.11065", notes=OCR_NOTES, model_options=_ocr_options(_width),
                  checkpoints=_checkpoints)

# =========================================================================================== DeepLab-LargeFOV

LFOV = "arXiv:1412.7062 Sec. 5"
DLV2 = "arXiv:1606.00915 Sec. 4.1.2 Table 2"

register_train_recipe(TrainRecipe(
    model="largefov_vgg16", dataset="voc",
    paper="DeepLab-LargeFOV, arXiv:1412.7062 Sec. 5 (PASCAL VOC 2012, augmented train set)",
    gpus=Cited(1, f"not stated in {LFOV}; one GPU assumed (Caffe; Table 2 reports training speed in images/s)"),
    train={
        **cite(f"{LFOV}: mini-batch of 20 images", batch_size=20),
        **cite(f"{LFOV}: initial learning rate 0.001 (0.01 for the final classifier layer)", lr=0.001,
               head_lr_mult=10.0),
        **cite(f"{LFOV}: multiplying the learning rate by 0.1 at every 2000 iterations", schedule="step",
               step_size=2000, gamma=0.1),
        **cite(f"{LFOV}: momentum 0.9, weight decay 0.0005", optimizer="sgd", momentum=0.9, weight_decay=5e-4),
        **cite(f"not in {LFOV}; {DLV2}: the original 'step' setting of DeepLab-LargeFOV (62.25 mIoU) ran 6K "
               "iterations", max_iters=6000),
    },
    data={
        **cite(f"{LFOV} names no rescaling; random rescaling (0.5-1.5) came later ({DLV2.replace(' Table 2', '')})",
               scale_range=(1.0, 1.0)),
        **cite(f"{LFOV}: no colour augmentation", photometric=False),
    },
    model_options={**cite(f"{LFOV}: VGG-16 pre-trained on ImageNet", pretrained_backbone=True)},
    evaluation={
        **cite("arXiv:1412.7062 Table 1 (a): DeepLab-LargeFOV 62.25 before the CRF (DeepLab-CRF-LargeFOV 67.64 with "
               "it: segzoo.crf)", crf=False),
        **cite("arXiv:1412.7062 Table 1: single-scale val results", scales=(1.0,), flip=False, mode="whole"),
        **cite(f"{LFOV}: pixel IOU averaged across the 21 classes", metric="mIoU"),
    },
    notes="The paper says batch 20; its journal version lists the same run (62.25) as batch 30, 6K iterations "
    f"({DLV2}); the total iteration count comes from there. Train on --train-split train_aug (10582 images). The "
    "crop size and flipping are not stated in the paper (the released Caffe prototxts, not reachable here, crop "
    "306-321 and mirror): segzoo's VOC defaults (crop 512, flip) apply. DeepLab-LargeFOV keeps the native image "
    "size (no base resize); segzoo resizes the short side to its base size (VOC 512) even at scale 1.",
))
