"""Training recipes of DeepLabV3 and DeepLabV3+ (ResNet and MobileNet): the papers' own PASCAL VOC protocol
(arXiv:1706.05587 Sec. 4.1, arXiv:1802.02611 Sec. 4, with the momentum and weight decay of the authors'
TensorFlow code, tensorflow/models ``research/deeplab/train.py``) and MMSegmentation's configs for the other
datasets (``mmseg_common``)."""

from __future__ import annotations

from typing import Mapping

from .mmseg_common import MMSEG, checkpoint_note, mmseg_config, mmseg_os8_options, mmseg_recipe, mmseg_recipes
from .recipe import Cited, TrainRecipe, cite
from .registry import register_train_recipe

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
    model_options=mmseg_os8_options(f"{DLV3P_R50_BASE}: ResNetV1c dilations (1, 1, 2, 4), strides (1, 2, 1, 1): "
                                     "output stride 8"),
    extra=checkpoint_note("ade20k", 42.72),
)
mmseg_recipe(
    "deeplabv3p_r50", "cityscapes", "deeplabv3plus/deeplabv3plus_r50-d8", method=DEEPLABV3P, notes=DLV3P_MMSEG_NOTES,
    model_options=mmseg_os8_options(f"{DLV3P_R50_BASE}: output stride 8"),
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
