"""Training recipes of the single-scale semantic baselines: FCN, PSPNet, DANet, Non-local, OCRNet
and DeepLab-LargeFOV (DeepLabV3 and V3+: ``deeplab.py``; the shared MMSegmentation vocabulary: ``mmseg_common.py``).

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

from .mmseg_common import ADE_CONFIG, IMAGENET_INIT, MMSEG, checkpoint_note, mmseg_recipe, mmseg_recipes
from .recipe import Cited, TrainRecipe, cite
from .registry import register_train_recipe

FCN = "FCN, arXiv:1411.4038"
FCN_NOTES = (
    "FCN (arXiv:1411.4038) trains VGG16 FCN-32s/16s/8s (fixed lr 1e-4, momentum 0.99, batch 20): a recipe for a "
    "different network, so segzoo's dilated ResNet FCN takes MMSegmentation's FCN R-D8 config, whose head is "
    "head_convs=2, concat_input=True (segzoo's default is torchvision's one conv). "
)

mmseg_recipes("fcn_r50", "fcn/fcn_r50-d8", ("voc", "ade20k", "cityscapes"), method=FCN, notes=FCN_NOTES,
              checkpoints={"ade20k": 35.94, "cityscapes": 73.61})
mmseg_recipes("fcn_r101", "fcn/fcn_r101-d8", ("voc", "ade20k", "cityscapes"), method=FCN, notes=FCN_NOTES)

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
        **cite(f"not in {PSP}; {ADE_CONFIG}: crop 512 x 512", crop=(512, 512)),
        **cite(f"not in {PSP}; {ADE_CONFIG}: short side 512", base_size=512),
    },
    model_options={
        **cite("arXiv:1612.01105 Sec. 3-4: pretrained (ImageNet) ResNet, dilated", pretrained_backbone=True),
        **cite(f"{PSP}: auxiliary loss weight 0.4 (segzoo's aux head weight)", aux=True),
    },
    evaluation={
        **cite("arXiv:1612.01105 Table 1: single-scale input on the validation set", scales=(1.0,), flip=False),
        **cite(f"{ADE_CONFIG}: whole image, short side 512 (the paper does not state its test resolution)", mode="whole",
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
