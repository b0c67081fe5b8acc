"""AinnoSeg's training recipe (seed 001) on ADE20K.

The seed states the loss weights, the multi-scale bases and inference scales, mosaic as 30% extra
images and two teacher/student rounds; it gives no optimiser, schedule, batch or crop. Those come
from the configuration AinnoSeg builds on, HRNet-OCR's ADE20K setting in the authors' repository
(HRNet/HRNet-Semantic-Segmentation, ``experiments/ade20k/seg_hrnet_ocr_w48_520x520_ohem_sgd_lr2e-2_wd1e-4_bs_16_epoch120.yaml``),
cited as such.
"""

from __future__ import annotations

from .recipe import Cited, TrainRecipe, cite
from .registry import register_train_recipe

HRNET_OCR_ADE = "HRNet-Semantic-Segmentation experiments/ade20k/seg_hrnet_ocr_w48_520x520_ohem_sgd_lr2e-2_wd1e-4_bs_16_epoch120.yaml"
SEED = "seed 001"
ADE20K_TRAIN = 20210
AINNOSEG_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)  # = segzoo.postprocess.AINNOSEG_SCALES (torch-free here)

register_train_recipe(TrainRecipe(
    model="ainnoseg_hrnet_w48",
    dataset="ade20k",
    paper="AinnoSeg (seed 001) on HRNet-OCR's ADE20K schedule",
    gpus=Cited(4, f"{HRNET_OCR_ADE} GPUS (0,1,2,3); the seed does not say"),
    train={
        **cite(f"{HRNET_OCR_ADE} TRAIN (the seed gives no optimiser or schedule)", optimizer="sgd", lr=0.02, momentum=0.9,
               weight_decay=1e-4),
        **cite(f"{HRNET_OCR_ADE}: 4 GPUs x BATCH_SIZE_PER_GPU 4", batch_size=16),
        **cite(f"{HRNET_OCR_ADE}: END_EPOCH 120 x {ADE20K_TRAIN} images / 16 = 151575 iterations", max_iters=151575),
        **cite("HRNet-Semantic-Segmentation lib/utils/utils.py adjust_learning_rate: lr (1 - it/max)^0.9", schedule="poly",
               power=0.9),
        **cite("one rate for all layers in HRNet-Semantic-Segmentation (no head multiplier)", head_lr_mult=1.0),
    },
    data={
        **cite(f"{SEED} Sec. 4.1: 'three modes of base scale: 520, 640, 800'", bases=(520, 640, 800)),
        **cite(f"{HRNET_OCR_ADE} MULTI_SCALE, SCALE_FACTOR 16: factors 0.5-2.0 (seed Sec. 3.5: largest scale ~2x the base)",
               scale_range=(0.5, 2.0)),
        **cite(f"{HRNET_OCR_ADE} IMAGE_SIZE 520x520 (seed Sec. 3.5: 'random crop')", crop=(520, 520)),
        **cite(f"{HRNET_OCR_ADE} FLIP", flip=True),
        **cite("not in the seed or HRNet-OCR's pipeline", photometric=False),
        **cite(f"{SEED} Sec. 4.1: a mosaic set 'with a ratio of 1:0.3 data volume' added to the training data",
               mosaic_extra=0.3),
    },
    model_options={
        **cite(f"{SEED} eq. (1) and Sec. 4.1: weights 0.1 (dual attention), 0.3 (OCR auxiliary), 1 (final); no boundary term",
               loss="ce", alpha=0.1, beta=0.3, gamma=1.0),
        **cite(f"{HRNET_OCR_ADE} MODEL.PRETRAINED hrnetv2_w48_imagenet_pretrained.pth", pretrained_backbone=True),
    },
    evaluation={
        **cite(f"{SEED} Sec. 4.1: seven multiples of the base scale, fused", scales=AINNOSEG_SCALES),
        **cite("not stated by the seed; multi-scale TTA usually flips (flip=False matches the text)", flip=True),
        **cite(f"{HRNET_OCR_ADE} TEST.BASE_SIZE 520", resize=520, mode="whole"),
        **cite(f"{SEED} eq. (2): score = (pixel accuracy + mIoU) / 2", metric="score"),
    },
    semi={
        **cite(f"{SEED} Sec. 3.4: 'two semi-supervised learning tasks'", rounds=2),
        **cite(f"{SEED} Sec. 3.4, Fig. 5, Sec. 4.1: the student trains on the pseudo-labelled test images, then is fine-tuned "
               "on the training set", student="pseudo_then_finetune"),
        **cite(f"{SEED} Sec. 3.5: pseudo labels by the multi-scale inference", pseudo_label_scales=AINNOSEG_SCALES),
        **cite("not in the seed (see evaluation.flip)", pseudo_label_flip=True),
        **cite("not in the seed: every pixel keeps its label", threshold=None),
    },
    notes="Sec. 4.1 also puts 'the validation dataset' and 6000 images into the training data, unclear which; not "
          "reproduced. Sec. 3.4 fine-tunes on labels plus pseudo labels, Sec. 4.1 on the labels: we follow Sec. 4.1 "
          "(segzoo.engine.SemiSupervised student_data='pseudo').",
))  # fmt: skip
