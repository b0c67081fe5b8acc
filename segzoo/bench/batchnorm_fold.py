"""Folding BatchNorm into the convolution before it, found by watching one forward pass.

Ioffe & Szegedy, arXiv:1502.03167: in eval a BatchNorm is an affine map, which
``torch.nn.utils.fusion.fuse_conv_bn_eval`` merges into the preceding convolution's weight and
bias. ``find_conv_bn_pairs`` finds the pairs without ``torch.fx`` (module hooks on one forward), so
models with data-dependent control flow work too; ``fold_batchnorm`` folds them. Used by
:func:`segzoo.bench.optimize`.
"""

from __future__ import annotations

import copy
import weakref
from collections import defaultdict
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights

__all__ = ["find_conv_bn_pairs", "fold_batchnorm", "count_batchnorms"]


def _is_batchnorm(m: nn.Module) -> bool:
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return m.track_running_stats and m.running_mean is not None
    return "FrozenBatchNorm" in type(m).__name__ and hasattr(m, "running_mean")


def _consumes_whole(consumer: str, bn: str) -> bool:
    """``consumer`` is the BatchNorm itself or a module containing it (which hands it the tensor)."""
    return consumer == bn or consumer == "" or bn.startswith(consumer + ".")


@torch.no_grad()
def find_conv_bn_pairs(model: nn.Module, run: Callable[[], Any]) -> list[tuple[str, str]]:
    """``(conv name, batchnorm name)`` pairs that can be folded, found by watching ``run()``.

    A pair qualifies when every output of the ``Conv2d`` is consumed (as a module input) only by
    the BatchNorm or modules containing it, and every input of the BatchNorm is an output of
    that convolution. Modules ``run`` never calls are paired only when they are adjacent in an
    ``nn.Sequential``. ``run`` must call ``model`` (in eval mode) once.
    """
    names = {m: name for name, m in model.named_modules()}
    convs = {m for m in names if isinstance(m, nn.Conv2d)}
    bns = {m for m in names if _is_batchnorm(m)}
    live: dict[int, tuple[weakref.ref, int]] = {}  # id(tensor) -> (weak ref, serial number)
    produced_by: list[nn.Module] = []  # serial -> conv that produced the tensor
    consumers: list[set[str]] = []  # serial -> names of the modules that took it as input
    bn_inputs: dict[nn.Module, list[int | None]] = defaultdict(list)  # bn -> serial of each call's input

    def lookup(t: Any) -> int | None:
        entry = live.get(id(t)) if isinstance(t, torch.Tensor) else None
        return entry[1] if entry is not None and entry[0]() is t else None

    def on_conv_output(module, args, output):
        if isinstance(output, torch.Tensor):
            live[id(output)] = (weakref.ref(output), len(produced_by))
            produced_by.append(module)
            consumers.append(set())

    def on_input(module, args):
        for a in args:
            serial = lookup(a)
            if serial is not None:
                consumers[serial].add(names[module])
        if module in bns:
            bn_inputs[module].append(lookup(args[0]) if args else None)

    handles = [m.register_forward_hook(on_conv_output) for m in convs]
    handles += [m.register_forward_pre_hook(on_input) for m in names]
    try:
        run()
    finally:
        for h in handles:
            h.remove()

    outputs_of: dict[nn.Module, list[int]] = defaultdict(list)
    for serial, conv in enumerate(produced_by):
        outputs_of[conv].append(serial)
    pairs = []
    for bn, serials in bn_inputs.items():
        if not serials or any(s is None for s in serials):
            continue
        conv = produced_by[serials[0]]
        if any(produced_by[s] is not conv for s in serials) or conv.out_channels != bn.num_features:
            continue
        bn_name = names[bn]
        used = outputs_of[conv]
        if len(used) != len(serials) or not all(
            consumers[s] and all(_consumes_whole(c, bn_name) for c in consumers[s]) for s in used
        ):
            continue
        pairs.append((names[conv], bn_name))
    # Modules the run never reached (an auxiliary head skipped in eval): adjacent pairs in a plain
    # nn.Sequential, whose forward feeds each child's output to the next child alone.
    called = set(produced_by) | set(bn_inputs)
    for seq in names:
        if not isinstance(seq, nn.Sequential) or type(seq).forward is not nn.Sequential.forward:
            continue
        children = list(seq)
        for conv, bn in zip(children, children[1:]):
            if (
                conv in convs and bn in bns and conv not in called and bn not in called
                and conv.out_channels == bn.num_features
            ):  # fmt: skip
                pairs.append((names[conv], names[bn]))
    return pairs


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _after_norm(bn: nn.Module) -> nn.Module:
    """What stays of a folded BatchNorm: timm's BatchNormAct2d keeps its dropout and activation."""
    rest = [getattr(bn, a) for a in ("drop", "act") if isinstance(getattr(bn, a, None), nn.Module)]
    return nn.Sequential(*rest) if rest else nn.Identity()


def _fuse(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    if isinstance(bn, nn.modules.batchnorm._BatchNorm):
        return fuse_conv_bn_eval(conv, bn)
    fused = copy.deepcopy(conv)  # frozen BatchNorms: same algebra on their buffers
    fused.weight, fused.bias = fuse_conv_bn_weights(
        conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    return fused


@torch.no_grad()
def fold_batchnorm(model: nn.Module, pairs: list[tuple[str, str]]) -> int:
    """Fold each ``(conv, batchnorm)`` pair of :func:`find_conv_bn_pairs` in place; returns the count.

    The model must be in eval mode (the running statistics are folded).
    """
    for conv_name, bn_name in pairs:
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        if conv.training or bn.training:
            raise RuntimeError("fold_batchnorm needs the model in eval mode (call model.eval() first).")
        _set_submodule(model, conv_name, _fuse(conv, bn))
        _set_submodule(model, bn_name, _after_norm(bn))
    return len(pairs)


# ---- the fast forward ------------------------------------------------------------------------



def count_batchnorms(model: nn.Module) -> int:
    """BatchNorm layers (frozen and timm's included) left in ``model``."""
    return sum(1 for m in model.modules() if _is_batchnorm(m))
