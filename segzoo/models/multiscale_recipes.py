"""Registered multi-scale models: seed 004 (attention to refine through multi-scales, with the
attention-to-scale and avg/max baselines) and seed 003 (hierarchical multi-scale attention).

Every recipe wraps a semantic recipe in a :class:`MultiScaleModel` with a scale fuser chosen
by name; ``fuser=`` swaps it (``avg``, ``max``, ``attention_to_scale``, ``refine_multiscale``,
``hmsa``).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from ..fusers import create_fuser
from ..heads import FCNHead, PSPHead
from .attention_recipes import ocrnet_hrnet_w18
from .multiscale import MultiScaleModel, scale_name
from .options import MultiScaleOptions
from .registry import register_model, register_variant
from .semantic import SemanticModel
from .semantic_recipes import deeplabv3p_r50, largefov_vgg16

__all__ = ["make_fuser"]

SEED004 = "Yang & Peng, Attention to Refine through Multi-Scales for Semantic Segmentation (seed 004)"
A2S = "Chen et al., Attention to Scale: Scale-aware Semantic Image Segmentation, arXiv:1511.03339"
HMSA = "Tao et al., Hierarchical Multi-Scale Attention for Semantic Segmentation, arXiv:2005.10821"


def make_fuser(name: str, model: SemanticModel, *, num_scales: int, dilations: Sequence[int] | None = None) -> nn.Module:
    """A scale fuser by name, sized from the wrapped model's features and classes."""
    channels = [f.channels for f in model.feature_info]
    if name in ("avg", "max"):
        return create_fuser(name)
    if name == "attention_to_scale":
        return create_fuser(name, in_channels=channels[-1], num_scales=num_scales)
    if name == "refine_multiscale":
        dilations = tuple(dilations) if dilations else ((2, 12) if num_scales == 2 else tuple(range(2, 2 + 10 * num_scales, 10)))
        if len(dilations) != num_scales:
            raise ValueError(f"refine_multiscale needs one dilation per scale: {num_scales} scales, dilations {dilations}.")
        return create_fuser(name, in_channels=channels, num_classes=model.num_classes, dilations=dilations)
    if name == "hmsa":
        return create_fuser(name, in_channels=channels[-1])
    return create_fuser(name)  # raises with close matches for unknown names


@register_model(paper=SEED004, options=MultiScaleOptions(backbone="vgg16_largefov"))
def msrefine_largefov_vgg16(
    o: MultiScaleOptions, *, dilations: Sequence[int] = (2, 12), fuser: str = "refine_multiscale"
) -> MultiScaleModel:
    """Seed 004 on DeepLab-LargeFOV (VOC): hypercolumn location attention + recalibration, scales 1x and 0.5x.

    ``dilations``: one per scale, in ascending scale order. The seed contradicts itself here: Sec. 3.1
    sets the dilation "to 2 for small scale and 12 for large scale" (the default, ``(2, 12)``: 2 on the
    0.5x stream), while Sec. 2.1 and Fig. 2 give the *large* dilation to the small-scale stream ("to
    catch the long-span interlink ... for large scale object or region in small scale stream") and the
    small one to the large-scale stream, i.e. ``dilations=(12, 2)``. We default to Sec. 3.1, the setting
    its experiments report; ``(12, 2)`` is Sec. 2.1's reading (docs/papers/multiscale.md)."""
    base = largefov_vgg16(o)
    fused = make_fuser(fuser, base, num_scales=len(o.scales), dilations=dilations)
    return MultiScaleModel(model=base, fuser=fused, scales=o.scales)


register_variant(
    "msrefine_largefov_vgg16", "a2s_largefov_vgg16", fuser="attention_to_scale", paper=A2S,
    description="Attention-to-scale on DeepLab-LargeFOV (scales 1x and 0.5x, 1 + S losses).",
)  # fmt: skip
register_variant(
    "msrefine_largefov_vgg16", "msavg_largefov_vgg16", fuser="avg",
    description="Seed 004's baseline: LargeFOV streams at 1x and 0.5x merged by average pooling.",
)  # fmt: skip
register_variant(
    "msrefine_largefov_vgg16", "msmax_largefov_vgg16", fuser="max",
    description="Seed 004's baseline: LargeFOV streams at 1x and 0.5x merged by max pooling.",
)  # fmt: skip


@register_model(paper=SEED004, options=MultiScaleOptions(num_classes=150, backbone="resnet34"))
def msrefine_r34d8(
    o: MultiScaleOptions, *, head: str = "fcn", dilations: Sequence[int] = (2, 12), fuser: str = "refine_multiscale"
) -> MultiScaleModel:
    """Seed 004 on ResNet34-dilated8 (ADE20K): refine-multiscale attention, scales 1x and 0.5x.

    ``head``: ``"fcn"`` or ``"psp"`` (no auxiliary loss), the two heads of the seed's ADE20K table.
    ``dilations``: Sec. 3.1's ``(2, 12)`` by default; Sec. 2.1/Fig. 2 read ``(12, 2)`` (see
    :func:`msrefine_largefov_vgg16`)."""
    encoder = o.encoder(output_stride=8)
    channels = encoder.feature_info[-1].channels
    heads = {"fcn": FCNHead, "psp": PSPHead}
    if head not in heads:
        raise ValueError(f"head must be 'fcn' or 'psp', got {head!r}.")
    base = SemanticModel(backbone=encoder, decode_head=heads[head](channels, num_classes=o.num_classes), **o.model_kwargs())
    fused = make_fuser(fuser, base, num_scales=len(o.scales), dilations=dilations)
    return MultiScaleModel(model=base, fuser=fused, scales=o.scales)


register_variant(
    "msrefine_r34d8", "msrefine_r34d8_psp", head="psp",
    description="Seed 004's best ADE20K row: ResNet34-dilated8 + PSP (no aux loss) + refine-multiscale attention.",
)  # fmt: skip


def _hmsa(base: SemanticModel, scales: Sequence[float], train_scales: Sequence[float]) -> MultiScaleModel:
    return MultiScaleModel(
        model=base, fuser=make_fuser("hmsa", base, num_scales=len(train_scales)), scales=scales, train_scales=train_scales
    )


@register_model(paper=HMSA, options=MultiScaleOptions(num_classes=19, backbone="resnet50", scales=(0.5, 1.0, 2.0)))
def hmsa_deeplabv3p_r50(o: MultiScaleOptions, *, train_scales: Sequence[float] = (0.5, 1.0)) -> MultiScaleModel:
    """HMSA on DeepLabV3+ / ResNet-50 (Cityscapes 19 classes): trained on (0.5, 1), run on (0.5, 1, 2)."""
    return _hmsa(deeplabv3p_r50(o, aux=False), o.scales, train_scales)


register_variant(
    "hmsa_deeplabv3p_r50", "hmsa_deeplabv3p_mobilenetv2", backbone="mobilenetv2_100",
    description="HMSA on DeepLabV3+ / MobileNetV2 (Cityscapes 19 classes): trained on (0.5, 1), run on (0.5, 1, 2).",
)  # fmt: skip


# NVIDIA semantic-segmentation's Cityscapes recipe (scripts/train_cityscapes.yml, config.py): the
# fused prediction (its RMI loss there; segzoo's pixel loss here), OCR's fused auxiliary output at
# LOSS.OCR_ALPHA = 0.4, each scale's own prediction at supervised_mscale_loss_wt = 0.05.


@register_model(paper=HMSA, options=MultiScaleOptions(num_classes=19, backbone="hrnet_w48", scales=(0.5, 1.0, 2.0)))
def hmsa_ocrnet_hrnet_w48(
    o: MultiScaleOptions,
    *,
    train_scales: Sequence[float] = (0.5, 1.0),
    channels: int = 512,
    key_channels: int = 256,
    attention_channels: int = 256,
    fuse_at_input: bool = False,
) -> MultiScaleModel:
    """HMSA on HRNet-OCR (W48), the paper's main model: trained on (0.5, 1), run on (0.5, 1, 2).

    As in the authors' ``MscaleOCR``: the scale attention reads OCR's 512-channel representation,
    OCR's soft-region logits are fused with the same attention and supervised (weight 0.4), and
    each training scale's own prediction adds a 0.05-weighted loss. ``fuse_at_input``: combine the
    scales at each one's input resolution in the authors' order (``HierarchicalScaleFuser(at_input=True)``)
    instead of at 1/4 of the input; their checkpoints (the ``nvidia_*`` tags) set it."""
    base = ocrnet_hrnet_w18(o, channels=channels, key_channels=key_channels)
    weights = {"logits": 1.0, "coarse": 0.4, **{scale_name(s): 0.05 for s in train_scales}}
    fuser = create_fuser("hmsa", in_channels=base.decode_head.out_channels, channels=attention_channels, at_input=fuse_at_input)
    return MultiScaleModel(
        model=base, fuser=fuser, scales=o.scales, train_scales=train_scales, attention_on="head", fuse_aux=True,
        loss_weights=weights, fusion_stride=1 if fuse_at_input else 4,
    )  # fmt: skip
