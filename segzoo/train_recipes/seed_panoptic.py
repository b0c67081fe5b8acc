"""The panoptic seeds' training recipes on COCO panoptic: seed 000 (``panoptic_se_r50``) and seed 002
(``panoptic_cascade_x101_dcn``).

What the seeds state is cited to their section; what they leave out (batch, crop, the iterations of
seed 002's two drops) comes from the code base each builds on and is cited to it: Mask R-CNN /
Detectron's COCO pipeline for seed 000, UPSNet's COCO configuration and MMDetection's 20-epoch
schedule for seed 002.
"""

from __future__ import annotations

from .recipe import Cited, TrainRecipe, cite
from .registry import register_train_recipe

COCO_TRAIN = 118287
DETECTRON_COCO = "Detectron2 configs/Base-RCNN-FPN.yaml INPUT (Mask R-CNN's COCO pipeline)"
UPSNET_COCO = "UPSNet upsnet/experiments/upsnet_resnet50_coco_16gpu.yaml"
S000, S002 = "seed 000 Sec. 3.1", "seed 002 Sec. 3"
EVAL_PQ = cite("COCO panoptic: PQ on val2017 at Mask R-CNN's test size (800, max 1333)", metric="PQ", resize=800, mode="whole")

register_train_recipe(TrainRecipe(
    model="panoptic_se_r50",
    dataset="coco-panoptic",
    paper="Seed 000: SE-ResNet-50 panoptic model with spatial ranking",
    gpus=Cited(1, f"{S000}: one GTX 1060"),
    train={
        **cite(f"{S000}: initial learning rate 1e-3, 2x10^4 iterations", lr=1e-3, max_iters=20000),
        **cite(f"{S000}: 'Every iteration 1000 times, the learning rate decreases 10 times'", schedule="step", step_size=1000,
               gamma=0.1),
        **cite("not in the seed: SGD with momentum 0.9, weight decay 1e-4 (Mask R-CNN's)", optimizer="sgd", momentum=0.9,
               weight_decay=1e-4),
        **cite("not in the seed: one image per step fits the seed's single GPU", batch_size=1),
        **cite("not in the seed: one rate for every layer", head_lr_mult=1.0),
    },
    data={
        **cite(f"not in the seed: {DETECTRON_COCO} MIN_SIZE_TRAIN (640, ..., 800) drawn per image, flip",
               bases=(640, 672, 704, 736, 768, 800), scale_range=(1.0, 1.0), flip=True, photometric=False),
    },
    model_options={
        **cite(f"{S000}: 'The FPN of Imagenet was used as the pre-training model'", pretrained_backbone=True),
    },
    evaluation={**EVAL_PQ, **cite("not in the seed", scales=(1.0,), flip=False, crf=False)},
    notes="The step rule read literally divides the rate by 10 every 1000 of the 20000 iterations, so it is ~1e-9 of the "
          "base after 9000; the seed gives no other reading, so the recipe keeps it (override: --schedule/--step-size). "
          "Batch and crop are not given.",
))  # fmt: skip

SEED_002_ITERS = round(20 * COCO_TRAIN / 16)
register_train_recipe(TrainRecipe(
    model="panoptic_cascade_x101_dcn",
    dataset="coco-panoptic",
    paper="Seed 002: Cascade Mask R-CNN + deformable FPN + UPSNet head + dense CRF (COCO 2019 challenge entry)",
    gpus=Cited(16, f"{S002}: '16 Tesla V100 GPUs'"),
    train={
        **cite(f"{S002}: SGD, momentum 0.9, initial learning rate 0.01", optimizer="sgd", momentum=0.9, lr=0.01),
        **cite(f"{S002}: 'decreased twice with a factor of 2'", schedule="step", gamma=0.5),
        **cite(f"{S002}: 20 epochs x {COCO_TRAIN} images / 16 = {SEED_002_ITERS} iterations", max_iters=SEED_002_ITERS),
        **cite(f"not in the seed: the drops at epochs 16 and 19 of MMDetection's configs/_base_/schedules/schedule_20e.py "
               f"({COCO_TRAIN} x 16 / 16 and x 19 / 16 iterations)",
               milestones=(COCO_TRAIN, round(19 * COCO_TRAIN / 16))),
        **cite(f"not in the seed: {UPSNET_COCO} batch_size 1 per GPU x 16 GPUs", batch_size=16),
        **cite(f"not in the seed: {UPSNET_COCO} wd", weight_decay=1e-4),
        **cite(f"not in the seed: {UPSNET_COCO} warmup_iteration 1500", warmup_iters=1500),
        **cite("not in the seed: one rate for every layer", head_lr_mult=1.0),
    },
    data={**cite(f"not in the seed: {UPSNET_COCO} scales 800, max_size 1333, flip", base_size=800, scale_range=(1.0, 1.0),
                 flip=True, photometric=False)},
    model_options={**cite(f"{S002}: 'initialized using weights pre-trained on the ImageNet dataset'", pretrained_backbone=True)},
    evaluation={**EVAL_PQ, **cite(f"{S002}: dense CRF after inference; no TTA stated", crf=True, scales=(1.0,), flip=False)},
    notes="The seed's per-GPU batch and the epochs of the two drops are not given (UPSNet's and MMDetection's are used).",
))  # fmt: skip
