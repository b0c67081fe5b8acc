"""Training recipes of the multi-scale models: Attention to Scale, seed 004's fusers on DeepLab-LargeFOV and
ResNet34-dilated8, and NVIDIA's hierarchical multi-scale attention (HMSA).

Attention to Scale (arXiv:1511.03339 Sec. 4) trains DeepLab-LargeFOV's way: step policy, batch 30. Seed 004
("Attention to Refine through Multi-Scales", Yang & Peng) states its own poly policy
(power 0.9), the decoder at 10x the encoder's rate, two training scales (1x, 0.5x) and dilations 2/12, and
otherwise follows attention-to-scale on VOC. On ADE20K its ResNet34-dilated8 baseline is, by every sign
(the seed cites no code), CSAILVision/semantic-segmentation-pytorch's default model of late 2017, so the rest
comes from that repository's ``train.py``, ``dataset.py`` and ``eval.py`` at commit 199c2820 (2017-12-04).
HMSA (Tao et al., arXiv:2005.10821) follows NVIDIA/semantic-segmentation's ``scripts/train_cityscapes.yml`` with
the defaults of its ``train.py`` and ``config.py``; epochs are converted to iterations in the sources.
"""

from __future__ import annotations

from typing import NamedTuple

from .recipe import Cited, TrainRecipe, cite
from .registry import register_train_recipe

SEED004 = "seed 004 Sec. 3"
A2S = "arXiv:1511.03339 Sec. 4"
LFOV = "arXiv:1412.7062 Sec. 5"
DLV2 = "arXiv:1606.00915 Sec. 4.1.2 Table 2"
CSAIL = "CSAILVision/semantic-segmentation-pytorch@199c2820"
NV = "NVIDIA/semantic-segmentation"
NV_YML = f"{NV} scripts/train_cityscapes.yml"
ADE20K_TRAIN = 20210
CITYSCAPES_TRAIN = 2975

# --------------------------------------------------------------------------------------- VOC, LargeFOV family

A2S_OPTIMIZER = {
    **cite(f"{A2S}: batch size 30 images", batch_size=30),
    **cite(f"{A2S}: initial learning rate 0.001", lr=0.001),
    **cite(f"{A2S}: momentum 0.9, weight decay 0.0005", optimizer="sgd", momentum=0.9, weight_decay=5e-4),
    **cite(f"not stated in {A2S} (training takes twice a vanilla DeepLab-LargeFOV's time with 2 scales); {DLV2}: "
           "DeepLab-LargeFOV's original step setting, batch 30, 6K iterations", max_iters=6000),
}
LFOV_DATA = {
    **cite(f"{A2S} and {LFOV} name no rescaling augmentation (added later: arXiv:1606.00915 Sec. 4.1.2)",
           scale_range=(1.0, 1.0)),
    **cite(f"{A2S} and {LFOV}: no colour augmentation", photometric=False),
}
SEED004_VOC_TRAIN = {
    **A2S_OPTIMIZER,
    **cite(f"{SEED004}: poly learning rate policy, power 0.9 (instead of attention-to-scale's step)", schedule="poly",
           power=0.9),
    **cite(f"{SEED004}: learning rate of the decoder is 10 times that of the encoder", head_lr_mult=10.0),
}
SEED004_VOC_EVAL = {
    **cite("seed 004 Table 1: PASCAL VOC 2012 val, mIoU, the model's own 1x + 0.5x streams", scales=(1.0,),
           flip=False, mode="whole"),
    **cite("seed 004 Sec. 3.1: no CRF post-processing is mentioned", crf=False),
    **cite("seed 004 Table 1: mean intersection over union", metric="mIoU"),
}
SEED004_GPUS = Cited(1, "seed 004 Sec. 3: PyTorch on a NVIDIA TITAN Xp GPU")
SEED004_SCALES = cite(f"{SEED004}: 2 scales, 1x and 0.5x", scales=(0.5, 1.0))
SEED004_DILATIONS = cite(f"{SEED004}: dilation 2 for the small scale and 12 for the large scale", dilations=(2, 12))
SEED004_VOC_NOTES = (
    "Seed 004 gives the schedule shape, the decoder multiplier and the scales; for the rest it reproduces "
    "DeepLab-LargeFOV and attention-to-scale 'following the set of attention-to-scale' (Sec. 3.1): batch, lr, "
    "momentum and weight decay are attention-to-scale's, and the iteration count is DeepLab-LargeFOV's original "
    "6K (neither paper text available here states A2S's). Train on --train-split train_aug (10582 images). No crop "
    "size is stated (segzoo's VOC default 512 applies), nor flipping (segzoo's default on). segzoo resizes the short "
    "side to its base size (VOC 512) even at scale 1; LargeFOV keeps the native size. Its reproduction scored "
    "61.40 (LargeFOV), 63.88 (max), 64.07 (avg), 64.74 (attention-to-scale), 67.98 (ours)."
)


class Seed004Setting(NamedTuple):
    """What seed 004's recipes on one dataset share."""

    dataset: str
    train: dict[str, Cited]
    data: dict[str, Cited]
    pretrained: dict[str, Cited]  # the backbone's initialisation
    evaluation: dict[str, Cited]
    notes: str


SEED004_VOC = Seed004Setting("voc", SEED004_VOC_TRAIN, LFOV_DATA,
                             cite("seed 004 Sec. 3.1: VGG16 pretrained on ImageNet", pretrained_backbone=True),
                             SEED004_VOC_EVAL, SEED004_VOC_NOTES)


def seed004_recipe(model: str, setting: Seed004Setting, *, paper: str, refine: bool = True,
                   notes: str = "") -> TrainRecipe:
    """Register seed 004's recipe on ``setting``'s dataset for its two-scale ``model``: ``refine``, the
    attention-to-refine model, whose two scales have their own dilations (the pooling baselines have none); the notes
    are ``setting.notes``, then ``notes``."""
    return register_train_recipe(TrainRecipe(
        model=model, dataset=setting.dataset,
        paper=paper,
        gpus=SEED004_GPUS,
        train=setting.train,
        data=setting.data,
        model_options={**setting.pretrained, **SEED004_SCALES, **(SEED004_DILATIONS if refine else {})},
        evaluation=setting.evaluation,
        notes=setting.notes + notes,
    ))


register_train_recipe(TrainRecipe(
    model="a2s_largefov_vgg16", dataset="voc",
    paper="Attention to Scale, arXiv:1511.03339 Sec. 4 (PASCAL VOC 2012, DeepLab-LargeFOV)",
    gpus=Cited(1, f"{A2S}: fine-tuning takes about 21 hours on an NVIDIA Tesla K40 GPU"),
    train={
        **A2S_OPTIMIZER,
        **cite(f"{A2S}: learning rate multiplied by 0.1 after 2000 iterations", schedule="step", step_size=2000,
               gamma=0.1),
        **cite(f"DeepLab-LargeFOV's classifier at 0.01 ({LFOV}), which {A2S} trains; seed 004 Sec. 3 reads the A2S "
               "setting as decoder x10", head_lr_mult=10.0),
    },
    data=LFOV_DATA,
    model_options={
        **cite("arXiv:1511.03339 Sec. 3: initialised from the ImageNet-pretrained VGG-16", pretrained_backbone=True),
    },
    evaluation={
        **cite("arXiv:1511.03339 Sec. 4: val mean IOU without CRF for the scale-merging comparison", crf=False,
               scales=(1.0,), flip=False, mode="whole"),
        **cite("arXiv:1511.03339 Sec. 4: pixel intersection-over-union averaged across classes", metric="mIoU"),
    },
    notes="The A2S values were read from a summary of the paper (batch 30, lr 0.001, x0.1 after 2000 iterations, "
    "momentum 0.9, wd 5e-4, 21 h on one K40); the total iteration count is not among them: DeepLab-LargeFOV's "
    f"original 6K ({DLV2}) is used, with one drop at 2000 and one at 4000. The 10x classifier rate is "
    "DeepLab-LargeFOV's; segzoo applies head_lr_mult to every non-backbone parameter, the attention model "
    "included. The paper trains with 2 scales {1, 0.5} and 3 scales {1, 0.75, 0.5} (segzoo default: 2) and 1 + S "
    "losses (extra supervision, the model's loss). Train on --train-split train_aug. Crop size and flipping are "
    "not stated (segzoo's VOC defaults apply).",
))
for _merge in ("Avg", "Max"):
    seed004_recipe(
        f"ms{_merge.lower()}_largefov_vgg16", SEED004_VOC, refine=False,
        paper=f"Seed 004 baseline 'Merged with {_merge}Pooling' (Attention to Refine through Multi-Scales, Table 1)",
    )
seed004_recipe("msrefine_largefov_vgg16", SEED004_VOC,
               paper="Attention to Refine through Multi-Scales (seed 004) Sec. 3.1, on DeepLab-LargeFOV")

# --------------------------------------------------------------------------------------- ADE20K, ResNet34-dilated8

_ITERS_PER_EPOCH = ADE20K_TRAIN // 16  # CSAIL train.py: epoch_iters = int(len(dataset_train) / batch_size)
CSAIL_TRAIN = {
    **cite(f"{CSAIL} train.py: --lr_encoder 1e-3", lr=0.001),
    **cite(f"{SEED004}: decoder at 10 times the encoder's rate ({CSAIL} train.py: --lr_decoder 1e-2)",
           head_lr_mult=10.0),
    **cite(f"{SEED004}: poly, power 0.9 ({CSAIL} train.py: --lr_pow 0.9, applied per epoch)", schedule="poly",
           power=0.9),
    **cite(f"{CSAIL} train.py create_optimizers: torch.optim.SGD, momentum=--beta1 0.9, --weight_decay 1e-4",
           optimizer="sgd", momentum=0.9, weight_decay=1e-4),
    **cite(f"{SEED004} (one GPU) x {CSAIL} train.py --batch_size_per_gpu 16", batch_size=16),
    **cite(f"{CSAIL} train.py --num_epoch 100 x int({ADE20K_TRAIN} / 16) = {_ITERS_PER_EPOCH} iterations per epoch "
           f"= {100 * _ITERS_PER_EPOCH}", max_iters=100 * _ITERS_PER_EPOCH),
}
CSAIL_DATA = {
    **cite(f"{CSAIL} train.py --imgSize 384; dataset.py _scale_and_crop: random 384 x 384 crop", crop=(384, 384)),
    **cite(f"{CSAIL} dataset.py _scale_and_crop: scale = random 0.5-1.5 (at least crop / short side)",
           scale_range=(0.5, 1.5)),
    **cite(f"{CSAIL} dataset.py: random horizontal flip", flip=True),
    **cite(f"{CSAIL} dataset.py: no colour augmentation", photometric=False),
}
CSAIL_EVAL = {
    **cite(f"{CSAIL} eval.py: args.scales = (0.5, 0.75, 1, 1.25, 1.5), probabilities averaged, no flip",
           scales=(0.5, 0.75, 1.0, 1.25, 1.5), flip=False),
    **cite(f"{CSAIL} eval.py --imgSize -1: whole image at its native size", mode="whole"),
    **cite("seed 004 Table 3: mIoU and pixel accuracy on ADE20K val", metric="mIoU"),
}
CSAIL_NOTES = (
    "Seed 004 cites Yu & Koltun (its [20]) for ResNet34-dilated8 and names no code, but its baseline (32.67 mIoU, "
    "PSP 36.43) matches CSAILVision/semantic-segmentation-pytorch's default model of late 2017 (README at "
    "199c2820: resnet34_dilated8 + c1_bilinear 31.04, + psp_bilinear 35.58), whose encoder 1e-3 / decoder 1e-2 "
    "rates are the seed's 10x: its train.py/dataset.py/eval.py fill what the seed leaves out. That code initialises "
    "ResNet-34 from Places365 weights (resnet.py model_urls: resnet34-places365.pth), not ImageNet, and trains on "
    "2 GPUs x 16 (--num_gpus 2): the seed's single TITAN Xp gives 16 here. It rescales the native image (no base "
    "size): segzoo rescales from its ADE20K base short side 512. Its poly schedule steps once per epoch. The seed "
    "does not state its evaluation protocol; CSAIL's multi-scale eval.py is cited."
)
SEED004_ADE20K = Seed004Setting(
    "ade20k", CSAIL_TRAIN, CSAIL_DATA,
    cite(f"{CSAIL} resnet.py: pretrained ResNet-34 (resnet34-places365.pth there; segzoo's is ImageNet)",
         pretrained_backbone=True),
    CSAIL_EVAL, CSAIL_NOTES,
)

seed004_recipe(
    "msrefine_r34d8", SEED004_ADE20K,
    paper="Attention to Refine through Multi-Scales (seed 004) Sec. 3.2, ResNet34-dilated8 (CSAIL code)",
    notes=" Seed 004 Table 3: baseline + our attention model 37.07 mIoU / 78.57 pixel accuracy.",
)
seed004_recipe(
    "msrefine_r34d8_psp", SEED004_ADE20K,
    paper="Attention to Refine through Multi-Scales (seed 004) Sec. 3.2, ResNet34-dilated8 + PSP (CSAIL code)",
    notes=" The PSP head has no auxiliary loss (seed 004 Sec. 3.2). Seed 004 Table 3: 38.21 mIoU / 79.29 "
    "pixel accuracy.",
)

# --------------------------------------------------------------------------------------- Cityscapes, HMSA

_NV_ITERS_PER_EPOCH = -(-CITYSCAPES_TRAIN // 8)  # DistributedSampler pads 2975 to 2976: 372 per GPU, batch 1
HMSA_TRAIN = {
    **cite(f"{NV_YML}: lr 5e-3", lr=0.005),
    **cite(f"{NV_YML}: poly_exp 2 ({NV} loss/optimizer.py: LambdaLR (1 - epoch / max_epoch) ** poly_exp)",
           schedule="poly", power=2.0),
    **cite(f"{NV} train.py defaults: --optimizer sgd, --momentum 0.9, --weight_decay 1e-4", optimizer="sgd",
           momentum=0.9, weight_decay=1e-4),
    **cite(f"{NV_YML}: bs_trn 1 per GPU x nproc_per_node 8", batch_size=8),
    **cite(f"{NV_YML}: max_epoch 175 x ceil({CITYSCAPES_TRAIN} / 8) = {_NV_ITERS_PER_EPOCH} iterations per epoch = "
           f"{175 * _NV_ITERS_PER_EPOCH}", max_iters=175 * _NV_ITERS_PER_EPOCH),
    **cite(f"{NV_YML}: apex: true, fp16: true (AMP O1)", amp="fp16"),
    **cite(f"{NV_YML}: syncbn: true", sync_bn=True),
}
HMSA_DATA = {
    **cite(f"{NV_YML}: crop_size '1024,2048'", crop=(1024, 2048)),
    **cite(f"{NV} train.py: pre_size unset, images at Cityscapes' native 1024 x 2048", base_size=1024),
    **cite(f"{NV} train.py defaults: --scale_min 0.5, --scale_max 2.0 (RandomSizeAndCrop)", scale_range=(0.5, 2.0)),
    **cite(f"{NV} datasets/__init__.py: RandomHorizontallyFlip in the training transforms", flip=True),
    **cite(f"{NV} train.py default --color_aug 0.25 (ColorJitter brightness/contrast/saturation/hue 0.25)",
           photometric=True),
}
HMSA_EVAL = {
    **cite(f"{NV} scripts/eval_cityscapes.yml: n_scales '0.5,1.0,2.0' are fused inside the model (its scales); no "
           "further averaging", scales=(1.0,)),
    **cite(f"{NV} train.py: --do_flip off by default (eval_cityscapes.yml does not set it)", flip=False),
    **cite(f"{NV} scripts/eval_cityscapes.yml: Cityscapes val, full 1024 x 2048 images", mode="whole", resize=1024),
    **cite(f"{NV} eval: mean IoU (mean_iu)", metric="mIoU"),
}
HMSA_MODEL_SCALES = {
    **cite(f"{NV} network/mscale.py two_scale_forward: training pairs MSCALE_LO_SCALE 0.5 with 1.0",
           train_scales=(0.5, 1.0)),
    **cite(f"{NV_YML}: n_scales '0.5,1.0,2.0' at inference", scales=(0.5, 1.0, 2.0)),
}
HMSA_NOTES = (
    "Not encoded: the RMI loss (rmi_loss: true; segzoo trains cross entropy), class-uniform sampling (train.py "
    "--class_uniform_pct 0.5, --class_uniform_tile 1024, for the first --max_cu_epoch 150 epochs), and the per-epoch "
    "(staircase) poly steps. NVIDIA's Cityscapes SOTA run (scripts/train_cityscapes_sota.yml: 16 GPUs, lr 1e-2, "
    "auto-labelled coarse data) is not this recipe. "
)


def hmsa_recipe(model: str, *, paper: str, pretrained: str, notes: str) -> TrainRecipe:
    """Register NVIDIA's HMSA Cityscapes recipe for ``model``: its trunk's initialisation cited to ``pretrained``,
    the notes HMSA_NOTES, then ``notes``."""
    return register_train_recipe(TrainRecipe(
        model=model, dataset="cityscapes",
        paper=paper,
        gpus=Cited(8, f"{NV_YML}: torch.distributed.launch --nproc_per_node=8"),
        train=HMSA_TRAIN,
        data=HMSA_DATA,
        model_options={**cite(pretrained, pretrained_backbone=True), **HMSA_MODEL_SCALES},
        evaluation=HMSA_EVAL,
        notes=HMSA_NOTES + notes,
    ))


hmsa_recipe(
    "hmsa_ocrnet_hrnet_w48",
    paper=f"HMSA, arXiv:2005.10821 ({NV_YML}, arch ocrnet.HRNet_Mscale)",
    pretrained=f"{NV} config.py MODEL.HRNET_CHECKPOINT hrnetv2_w48_imagenet_pretrained.pth (train_cityscapes.yml "
    "then loads the Mapillary-trained snapshot ocrnet.HRNet_industrious-chicken.pth)",
    notes="train_cityscapes.yml fine-tunes a Mapillary-trained HRNet-OCR snapshot, not an ImageNet "
    "trunk; starting from ImageNet weights (pretrained_backbone) is not the paper's run. OCR's auxiliary loss "
    f"(config.py LOSS.OCR_ALPHA 0.4) and each scale's own loss ({NV_YML}: supervised_mscale_loss_wt 0.05) are the "
    "model's default loss weights. The weights tag nvidia_cityscapes is NVIDIA's resulting checkpoint (86.92 mIoU).",
)
hmsa_recipe(
    "hmsa_deeplabv3p_r50",
    paper=f"HMSA, arXiv:2005.10821 ({NV_YML} schedule; DeepLabV3+ ResNet-50 = {NV} network/mscale.py DeepV3R50)",
    pretrained=f"{NV} network/Resnet.py resnet50(pretrained=True): 'pre-trained on ImageNet'",
    notes=f"{NV} ships no training script for its HMSA DeepLabV3+ ResNet-50 (network/mscale.py "
    "DeepV3R50): the HRNet-OCR Cityscapes schedule is used. Its single-scale DeepLabV3+ script "
    "(scripts/train_cityscapes_deepv3.yml, WRN-38) has the same lr, poly 2, 175 epochs and 8 x 1 batch with an "
    "800 x 800 crop and no RMI. NVIDIA weights each scale's own loss by supervised_mscale_loss_wt 0.05; segzoo's "
    "hmsa_deeplabv3p_r50 weights them 1.0 and has no option to change it.",
)
hmsa_recipe(
    "hmsa_deeplabv3p_mobilenetv2",
    paper=f"HMSA, arXiv:2005.10821 ({NV_YML} schedule) on DeepLabV3+ / MobileNetV2 (seed 003's reproduction)",
    pretrained="ImageNet-pretrained MobileNetV2 (the trunk NVIDIA's HMSA replaces; seed 003 Sec. 4 swaps it in)",
    notes="Neither the paper nor NVIDIA's code has a MobileNetV2 HMSA: the HRNet-OCR Cityscapes "
    "schedule is used. Seed 003 (a student reproduction) could not train HMSA end to end: it trained single-scale "
    "DeepLabV3+ MobileNet models per scale (0.5 / 1 / 2) for 7 / 7 / 5 epochs (its Table 2, 51.4 / 50.6 / 50.3 mIoU) "
    "and assembled them. segzoo weights each scale's own loss 1.0 (NVIDIA: 0.05) with no option to change it.",
)
