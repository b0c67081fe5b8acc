"""Training recipes of the panoptic baselines: Panoptic FPN (ResNet-50/101) and UPSNet (ResNet-50).

Panoptic FPN's recipe is Detectron2's, the implementation segzoo's Panoptic FPN follows and whose
checkpoints it converts: ``configs/COCO-PanopticSegmentation/panoptic_fpn_R_{50,101}_3x.yaml`` over
``Base-Panoptic-FPN.yaml`` and ``Base-RCNN-FPN.yaml``, with ``detectron2/config/defaults.py`` for the
values those leave at their defaults. UPSNet's is the authors' (uber-research/UPSNet):
``upsnet/experiments/upsnet_resnet50_{coco,cityscapes}_16gpu.yaml``, ``upsnet/config/config.py`` and the
learning-rate code of ``upsnet/upsnet_end2end_train.py``. Both schedules are iteration-based (the epoch
equivalents are in the sources); what segzoo's training pipeline can't express is listed in ``notes``.
"""

from __future__ import annotations

from .recipe import Cited, TrainRecipe, cite
from .registry import register_train_recipe

COCO_TRAIN = 118287  # COCO train2017 images

# --------------------------------------------------------------------------------------- Detectron2

D2 = "detectron2 configs"
D2_BASE = f"{D2}/Base-RCNN-FPN.yaml"
D2_PAN = f"{D2}/COCO-PanopticSegmentation/Base-Panoptic-FPN.yaml"
D2_DEFAULTS = "detectron2/config/defaults.py"


def _d2_3x(config: str) -> dict[str, Cited]:
    """Detectron2's 3x schedule of the COCO panoptic ``config`` (SGD lr 0.02, batch 16, 270k iterations)."""
    src = f"{D2}/COCO-PanopticSegmentation/{config}"
    return {
        **cite(f"{D2_BASE}: SOLVER.IMS_PER_BATCH 16", batch_size=16),
        **cite(f"{D2_BASE}: SOLVER.BASE_LR 0.02", lr=0.02),
        **cite(f"{D2_DEFAULTS}: SGD, SOLVER.MOMENTUM 0.9, SOLVER.WEIGHT_DECAY 1e-4 (WEIGHT_DECAY_NORM 0)",
               optimizer="sgd", momentum=0.9, weight_decay=1e-4),
        **cite(f"{src}: SOLVER.STEPS (210000, 250000), {D2_DEFAULTS}: WarmupMultiStepLR, GAMMA 0.1", schedule="step",
               milestones=(210000, 250000), gamma=0.1),
        **cite(f"{src}: SOLVER.MAX_ITER 270000 (the 3x schedule: 270000 x 16 / {COCO_TRAIN} = 36.5 epochs)",
               max_iters=270000),
        **cite(f"{D2_DEFAULTS}: SOLVER.WARMUP_ITERS 1000, WARMUP_FACTOR 1/1000, WARMUP_METHOD linear",
               warmup_iters=1000, warmup_ratio=0.001),
    }


D2_DATA = {
    **cite(f"{D2_BASE}: INPUT.MIN_SIZE_TRAIN (640, 672, 704, 736, 768, 800), {D2_DEFAULTS}: MIN_SIZE_TRAIN_SAMPLING "
           "'choice'", bases=(640, 672, 704, 736, 768, 800)),
    **cite("detectron2/data/detection_utils.py build_augmentation: ResizeShortestEdge to the chosen short side, no "
           "further rescaling", scale_range=(1.0, 1.0)),
    **cite(f"{D2_DEFAULTS}: INPUT.RANDOM_FLIP 'horizontal'", flip=True),
    **cite("detectron2/data/detection_utils.py build_augmentation: resizing and flipping only", photometric=False),
}
D2_EVAL = {
    **cite(f"{D2_DEFAULTS}: INPUT.MIN_SIZE_TEST 800 (MAX_SIZE_TEST 1333)", resize=800, mode="whole"),
    **cite(f"{D2_DEFAULTS}: TEST.AUG disabled", scales=(1.0,), flip=False),
    **cite("detectron2 MODEL_ZOO.md, COCO Panoptic Segmentation Baselines: PQ on val2017", metric="PQ"),
}
D2_GPUS = Cited(8, "detectron2 MODEL_ZOO.md: 'servers with 8 NVIDIA V100 GPUs'")
D2_NOTES = (
    "Not expressible in segzoo's pipeline: Detectron2 trains without cropping (INPUT.CROP disabled; segzoo's "
    "coco-panoptic default crop 640 x 640 applies), caps the long side at MAX_SIZE_TRAIN 1333, and keeps the "
    "backbone's BatchNorm frozen (RESNETS.NORM FrozenBN) with the stem and res2 frozen (BACKBONE.FREEZE_AT 2). "
    f"{D2_PAN} weights the semantic loss by SEM_SEG_HEAD.LOSS_WEIGHT 0.5 (instance losses 1.0); segzoo's panoptic "
    "model sums its losses unweighted and has no option for it. Detectron2's ResNet is the MSRA (Caffe-style) "
    "one, segzoo backbone 'resnet50_msra' / 'resnet101_msra' with the d2_coco weights' conventions "
    "(exact_anchors, roi_align 'v2', mask_paste 'sample'). The paper's own schedule (arXiv:1901.02446) and its "
    "Cityscapes recipe could not be read here and are not encoded."
)


def panoptic_fpn_recipe(depth: int, *, checkpoint: str) -> TrainRecipe:
    """Register Detectron2's 3x COCO panoptic config ``panoptic_fpn_R_<depth>_3x.yaml`` as panoptic_fpn_r<depth>'s
    recipe; ``checkpoint`` names the config's released model (the weights tag d2_coco)."""
    config = f"panoptic_fpn_R_{depth}_3x.yaml"
    return register_train_recipe(TrainRecipe(
        model=f"panoptic_fpn_r{depth}", dataset="coco-panoptic",
        paper=f"Panoptic FPN, arXiv:1901.02446 (Detectron2 configs/COCO-PanopticSegmentation/{config})",
        gpus=D2_GPUS,
        train=_d2_3x(config),
        data=D2_DATA,
        model_options={
            **cite(f"{D2}/COCO-PanopticSegmentation/{config}: MODEL.WEIGHTS "
                   f"detectron2://ImageNetPretrained/MSRA/R-{depth}.pkl", pretrained_backbone=True),
        },
        evaluation=D2_EVAL,
        notes=D2_NOTES + f" The weights tag d2_coco is this config's checkpoint ({checkpoint}).",
    ))


panoptic_fpn_recipe(50, checkpoint="model 139514569, 41.5 PQ")
panoptic_fpn_recipe(101, checkpoint="model 139514519, 43.0 PQ")

# --------------------------------------------------------------------------------------- UPSNet

UPS = "uber-research/UPSNet upsnet/experiments"
UPS_COCO = f"{UPS}/upsnet_resnet50_coco_16gpu.yaml"
UPS_CITY = f"{UPS}/upsnet_resnet50_cityscapes_16gpu.yaml"
UPS_CONFIG = "uber-research/UPSNet upsnet/config/config.py"
UPS_TRAIN = "uber-research/UPSNet upsnet/upsnet_end2end_train.py"
UPS_STEP = (f"{UPS_CONFIG}: train.lr_schedule 'step'; {UPS_TRAIN} lr_factor: x 0.1 at each decay_iteration, linear "
            "warm-up from 0.1 x lr")
UPS_NOTES = (
    "Not expressible in segzoo's pipeline: no cropping in UPSNet (segzoo's default crop applies) and the long-side "
    "cap (max_size). UPSNet weights its losses (semantic fcn_loss_weight, panoptic panoptic_loss_weight, "
    "fcn_with_roi_loss) and keeps panoptic_box_keep_fraction 0.7; segzoo's upsnet_r50 sums its losses unweighted "
    "with no option for it. UPSNet's ResNet-50 is the Caffe one (network.pretrained resnet-50-caffe.pth: segzoo "
    "backbone 'resnet50_msra')."
)


def upsnet_recipe(dataset: str, config: str, *, train_images: int, milestones: tuple[int, ...], max_iters: int,
                  data: dict[str, Cited], pretrained: str, evaluation: dict[str, Cited], notes: str) -> TrainRecipe:
    """Register UPSNet's 16-GPU ``config`` as upsnet_r50's recipe on ``dataset``: batch 16, SGD lr 0.02 dropped
    x 0.1 at ``milestones``, ``max_iters`` iterations (cited as epochs over ``train_images`` images), 1500 warm-up
    iterations. ``data`` holds its scales (flipping and no colour augmentation follow), ``pretrained`` cites its
    initialisation; the notes are UPS_NOTES, then ``notes``."""
    return register_train_recipe(TrainRecipe(
        model="upsnet_r50", dataset=dataset,
        paper=f"UPSNet, arXiv:1901.03784 ({config})",
        gpus=Cited(16, f"{config}: the 16-GPU configuration (use_horovod: true, batch_size 1 per GPU)"),
        train={
            **cite(f"{config}: train.batch_size 1 per GPU x 16 GPUs", batch_size=16),
            **cite(f"{config}: train.lr 0.02, momentum 0.9, wd 0.0001", optimizer="sgd", lr=0.02, momentum=0.9,
                   weight_decay=1e-4),
            **cite(f"{config}: train.decay_iteration {list(milestones)}; {UPS_STEP}", schedule="step",
                   milestones=milestones, gamma=0.1),
            **cite(f"{config}: train.max_iteration {max_iters} ({max_iters} x 16 / {train_images} = "
                   f"{max_iters * 16 / train_images:.1f} epochs)", max_iters=max_iters),
            **cite(f"{config}: train.warmup_iteration 1500; {UPS_TRAIN}: from 0.1 x lr", warmup_iters=1500,
                   warmup_ratio=0.1),
        },
        data={
            **data,
            **cite(f"{UPS_CONFIG}: train.flip True", flip=True),
            **cite(f"{UPS_CONFIG}: no colour augmentation", photometric=False),
        },
        model_options={**cite(pretrained, pretrained_backbone=True)},
        evaluation=evaluation,
        notes=UPS_NOTES + notes,
    ))


upsnet_recipe(
    "coco-panoptic", UPS_COCO, train_images=COCO_TRAIN, milestones=(60000, 80000), max_iters=90000,
    data={
        **cite(f"{UPS_COCO}: train.scales [800] (max_size 1333)", bases=(800,)),
        **cite(f"{UPS_COCO}: a single training scale, no jitter", scale_range=(1.0, 1.0)),
    },
    pretrained=f"{UPS_COCO}: network.pretrained ./model/pretrained_model/resnet-50-caffe.pth (ImageNet)",
    evaluation={
        **cite(f"{UPS_COCO}: test.scales [800], max_size 1333, batch_size 1", resize=800, mode="whole",
               scales=(1.0,), flip=False),
        **cite("arXiv:1901.03784 / UPSNet README: PQ on COCO val2017 (test.panoptic_stuff_area_limit 4096)",
               metric="PQ"),
    },
    notes=" COCO: fcn_loss_weight 0.2, panoptic_loss_weight 0.1, fcn_with_roi_loss true, fpn_with_gap true (segzoo "
    "fpn_context=True, off by default). The weights tag upsnet_coco is this run's checkpoint "
    "(upsnet_resnet_50_coco_90000.pth, 42.5 PQ).",
)
upsnet_recipe(
    "cityscapes", UPS_CITY, train_images=2975, milestones=(9000,), max_iters=12000,
    data={
        **cite(f"{UPS_CITY}: train.scales [800, 832, ..., 1024] (one drawn per image; max_size 2048)",
               bases=(800, 832, 864, 896, 928, 960, 992, 1024)),
        **cite(f"{UPS_CITY}: no jitter beyond the scale choice", scale_range=(1.0, 1.0)),
    },
    pretrained=f"{UPS_CITY}: network.pretrained ./model/pretrained_model/resnet-50-caffe.pth (ImageNet, not COCO)",
    evaluation={
        **cite(f"{UPS_CITY}: test.scales [1024], max_size 2048", resize=1024, mode="whole", scales=(1.0,), flip=False),
        **cite("arXiv:1901.03784: PQ on Cityscapes val (test.panoptic_stuff_area_limit 2048)", metric="PQ"),
    },
    notes=" Cityscapes: fcn_loss_weight 1, panoptic_loss_weight 0.5, fcn_with_roi_loss false, fcn_num_layers 2, no "
    "fpn_with_gap; the stuff area limit at test is 2048 (COCO 4096).",
)
