"""torchvision's MobileNetV3-Large trunk (Howard et al., "Searching for MobileNetV3", arXiv:1905.02244)
-> timm's module names, as segzoo's ``mobilenetv3_large_100_tv`` backbone holds them.

torchvision keeps the trunk as one ``features`` sequence: ``0`` the stem (conv, BatchNorm), ``1..15``
the inverted residual blocks, ``16`` the last 1x1 conv. timm groups the same blocks in stages
(``blocks.<stage>.<block>``) and names their parts. Inside a torchvision block, ``block.<k>`` runs
expand (absent when the block does not expand: ``features[1]``), depthwise, SE (when present) and
project, each a ``Conv2dNormActivation`` (``0`` conv, ``1`` BatchNorm) except SE (``fc1``, ``fc2``):

=========================  ======================================  ===========================
torchvision                 timm inverted residual (``blocks.s.b``)  timm depthwise-separable (``blocks.0.0``)
=========================  ======================================  ===========================
expand  ``0`` / ``1``       ``conv_pw`` / ``bn1``                    -
depthwise ``0`` / ``1``     ``conv_dw`` / ``bn2``                    ``conv_dw`` / ``bn1``
SE ``fc1`` / ``fc2``        ``se.conv_reduce`` / ``se.conv_expand``  (none in MobileNetV3-Large)
project ``0`` / ``1``       ``conv_pwl`` / ``bn3``                   ``conv_pw`` / ``bn2``
=========================  ======================================  ===========================

The mapping is a renaming: the shapes are the same (see :mod:`segzoo.backbones.mobilenetv3_tv` for
what else differs between the two implementations and how the backbone matches torchvision's).
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["MOBILENET_V3_LARGE_BLOCKS", "mobilenet_v3_large_renames"]

# torchvision features index -> timm (stage, block), for features 1..16
_STAGE_SIZES = (1, 2, 3, 4, 2, 3, 1)  # blocks per timm stage: 16, 24, 40, 80/112, 112, 160, the last 1x1 conv
MOBILENET_V3_LARGE_BLOCKS = {
    index: (stage, block)
    for index, (stage, block) in enumerate(
        ((s, b) for s, n in enumerate(_STAGE_SIZES) for b in range(n)), start=1
    )
}
_STEM = {"0": "conv_stem", "1": "bn1"}
_LAST = {"0": "conv", "1": "bn1"}  # timm's ConvBnAct
_IR = {"expand": ("conv_pw", "bn1"), "depthwise": ("conv_dw", "bn2"), "project": ("conv_pwl", "bn3")}
_DS = {"depthwise": ("conv_dw", "bn1"), "project": ("conv_pw", "bn2")}
_SE = {"fc1": "se.conv_reduce", "fc2": "se.conv_expand"}


def _roles(parts: set[str], has_se: bool) -> dict[str, str]:
    """The part of each ``block.<k>`` of a torchvision block: expand?, depthwise, SE?, project."""
    roles = (["expand"] if len(parts) - has_se == 3 else []) + ["depthwise"] + (["se"] if has_se else []) + ["project"]
    if len(roles) != len(parts):
        raise ValueError(f"A MobileNetV3 block with parts {sorted(parts, key=int)} is not an inverted residual block.")
    return dict(zip(sorted(parts, key=int), roles))


def mobilenet_v3_large_renames(keys: Iterable[str], prefix: str) -> dict[str, str]:
    """``{torchvision key: timm key}`` for the keys under ``prefix`` (e.g. ``"backbone."``, whose next part is
    the ``features`` index); keys of other indices or parts are left out (the caller reports them)."""
    keys = [k for k in keys if k.startswith(prefix)]
    by_block: dict[int, list[list[str]]] = {}
    for key in keys:
        parts = key[len(prefix) :].split(".")
        if parts[0].isdigit():
            by_block.setdefault(int(parts[0]), []).append(parts)
    out: dict[str, str] = {}
    for index, entries in by_block.items():
        if index == 0 or index == max(MOBILENET_V3_LARGE_BLOCKS):
            names = _STEM if index == 0 else _LAST
            base = "" if index == 0 else "blocks.{}.{}.".format(*MOBILENET_V3_LARGE_BLOCKS[index])
            for p in entries:
                if p[1] in names:
                    out[prefix + ".".join(p)] = base + names[p[1]] + "." + ".".join(p[2:])
            continue
        if index not in MOBILENET_V3_LARGE_BLOCKS:
            continue
        block = [p for p in entries if p[1] == "block" and len(p) > 3]
        has_se = any(p[3] == "fc1" for p in block)
        roles = _roles({p[2] for p in block}, has_se)
        table = _IR if "expand" in roles.values() else _DS
        base = "blocks.{}.{}.".format(*MOBILENET_V3_LARGE_BLOCKS[index])
        for p in block:
            role = roles[p[2]]
            if role == "se":
                name = _SE.get(p[3])
            else:
                name = dict(zip("01", table[role])).get(p[3])
            if name is not None:
                out[prefix + ".".join(p)] = base + name + "." + ".".join(p[4:])
    return out
