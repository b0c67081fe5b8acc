"""VGG16 LargeFOV, the DeepLab v1 trunk.

Paper: "Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected CRFs"
(Chen et al., arXiv:1412.7062), DeepLab-LargeFOV variant, on VGG16 ("Very Deep
Convolutional Networks for Large-Scale Image Recognition", arXiv:1409.1556). It is the
baseline trunk of seed 004 and of Attention-to-Scale (arXiv:1511.03339).

Reading of the paper (and of its released prototxt):

* VGG16's 13 3x3 convolutions without BatchNorm, each followed by ReLU;
* pool1-3: 3x3 max pooling, stride 2, padding 1 (output stride 8 after pool3);
* pool4, pool5: 3x3 max pooling, stride 1, padding 1 (no further subsampling), so conv5_x
  use dilation 2 to keep their field of view;
* fc6: 3x3 conv, dilation 12, 1024 channels, ReLU, dropout 0.5 (the "large field of view");
* fc7: 1x1 conv, 1024 channels, ReLU, dropout 0.5.

The classifier (fc8) belongs to the head. Output stride is 8 only.

Weights: the convolutions live under ``features.{i}`` with the indices of torchvision's
``vgg16().features``, so torchvision's ImageNet VGG16 state dict loads into them by name.
fc6 and fc7 are always randomly initialised here (DeepLab subsampled VGG's fully connected
layers into them; torchvision's 4096-wide classifier doesn't fit 1024 channels). With
torchvision's weights, inputs are RGB in [0, 1] normalised by the ImageNet mean/std.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..hub import ensure_reachable
from .base import FeatureInfo, register_backbone
from .errors import LOCAL_FILE_CLI_FIX, LOCAL_FILE_FIX, download_error
from .local_weights import load_backbone_file, load_backbone_state

__all__ = ["VGG16LargeFOV"]

PAPER = "Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected CRFs (arXiv:1412.7062)"

# (out channels, dilation) per conv, "P<stride>" for a 3x3 max pool with that stride; the
# layout (conv, ReLU, ..., pool) reproduces torchvision's vgg16().features indices 0..30.
_LAYOUT: list[tuple[int, int] | str] = [
    (64, 1), (64, 1), "P2",                   # conv1_x, pool1 -> features.4
    (128, 1), (128, 1), "P2",                 # conv2_x, pool2 -> features.9   (stride 4)
    (256, 1), (256, 1), (256, 1), "P2",       # conv3_x, pool3 -> features.16  (stride 8)
    (512, 1), (512, 1), (512, 1), "P1",       # conv4_x, pool4 -> features.23
    (512, 2), (512, 2), (512, 2), "P1",       # conv5_x, pool5 -> features.30
]  # fmt: skip

# features.{i} indices whose outputs are returned, with their stride.
_TAPS = {9: 4, 16: 8, 30: 8}


class VGG16LargeFOV(nn.Module):
    """DeepLab-LargeFOV VGG16 returning 4 levels: pool2 (128 ch, stride 4), pool3 (256, 8),
    pool5 (512, 8) and fc7 (1024, 8).

    Args:
        in_chans: input channels (the first conv; a 3-channel pretrained stem is adapted).
        pretrained: download torchvision's ``VGG16_Weights.IMAGENET1K_V1`` into ``features``.
        weights: local file: torchvision's VGG16 state dict (``features.*``; its
            ``classifier.*`` is ignored) or a state dict of this module (``fc6``/``fc7``
            optional). Takes precedence over ``pretrained``.
        dropout: dropout after fc6 and fc7.
    """

    def __init__(
        self,
        *,
        in_chans: int = 3,
        pretrained: bool = False,
        weights: str | os.PathLike | None = None,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_chans
        for item in _LAYOUT:
            if isinstance(item, str):
                layers.append(nn.MaxPool2d(kernel_size=3, stride=int(item[1:]), padding=1))
            else:
                out, dilation = item
                layers += [nn.Conv2d(channels, out, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
                channels = out
        self.features = nn.Sequential(*layers)
        self.fc6 = nn.Conv2d(512, 1024, 3, padding=12, dilation=12)
        self.fc7 = nn.Conv2d(1024, 1024, 1)
        self.relu = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout(dropout)
        self.drop7 = nn.Dropout(dropout)
        self.feature_info = [
            FeatureInfo(channels=128, stride=4, name="features.9"),
            FeatureInfo(channels=256, stride=8, name="features.16"),
            FeatureInfo(channels=512, stride=8, name="features.30"),
            FeatureInfo(channels=1024, stride=8, name="fc7"),
        ]
        self._init_weights()

        if weights is not None:
            load_backbone_file(self, weights, backbone="vgg16_largefov", stem_key="features.0.weight",
                               optional=("fc6.", "fc7."))  # fmt: skip
        elif pretrained:
            from torchvision.models import VGG16_Weights

            source = VGG16_Weights.IMAGENET1K_V1.url
            cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(source)
            if not cached.is_file():
                ensure_reachable(
                    source, what="the ImageNet weights of backbone 'vgg16_largefov' (torchvision VGG16)", backbone=True,
                    option="backbone_weights", fix=LOCAL_FILE_FIX.format(backbone="vgg16_largefov"),
                    cli_fix=LOCAL_FILE_CLI_FIX,
                )  # fmt: skip
            try:
                state = VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
            except Exception as e:  # offline, HTTP error, corrupt cache
                raise download_error("vgg16_largefov", e, source=source) from e
            load_backbone_state(self, state, backbone="vgg16_largefov", source=f"torchvision weights {source}",
                       stem_key="features.0.weight", optional=("fc6.", "fc7."))  # fmt: skip

    def _init_weights(self) -> None:
        # torchvision's VGG initialisation; fc6/fc7 keep it even when ImageNet weights load.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _TAPS:
                out.append(x)  # (B, 128, H/4, W/4), (B, 256, H/8, W/8), (B, 512, H/8, W/8)
        x = self.drop6(self.relu(self.fc6(x)))
        x = self.drop7(self.relu(self.fc7(x)))
        out.append(x)  # (B, 1024, H/8, W/8)
        return out


@register_backbone(family="vgg", paper=PAPER, output_strides=(8,))
def vgg16_largefov(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> VGG16LargeFOV:
    """VGG16 DeepLab-LargeFOV: 128/256/512/1024 channels at strides 4/8/8/8."""
    if output_stride not in (None, 8):
        raise ValueError(
            f"vgg16_largefov has output stride 8 only (DeepLab-LargeFOV sets pool4/pool5 to stride 1 and "
            f"dilates conv5 and fc6 instead); use output_stride=None or 8, got {output_stride!r}."
        )
    return VGG16LargeFOV(in_chans=in_chans, pretrained=pretrained, weights=weights)
