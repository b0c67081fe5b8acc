"""Convert a checkpoint another project published into a segzoo weights folder with a model card.

``convert_checkpoint("fcn_resnet50_coco-1167a1af.pth", "fcn_r50.tv_coco", "weights/fcn")`` builds the
recipe (with the tag's options, classes and metadata), converts and loads the file strictly
(:mod:`segzoo.convert`), and writes ``model.safetensors`` + ``config.json`` (``segzoo.save``) and
``README.md``: where the weights come from, their licence, the metrics the upstream reports,
the classes and the preprocessing they expect. ``segzoo.load(out)`` reads the folder back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..factory import build, model_registry
from ..files import atomic_write
from ..published import WeightsSpec
from ..state_dicts import sha256_of
from ..weights import CONFIG_ATTR, save

__all__ = ["convert_checkpoint", "ConversionResult", "model_card"]


@dataclass
class ConversionResult:
    """What :func:`convert_checkpoint` wrote and read."""

    out_dir: Path
    recipe: str
    tag: str | None
    converter: str
    source_sha256: str


def convert_checkpoint(source: str | os.PathLike, to: str, out_dir: str | os.PathLike, **overrides: Any) -> ConversionResult:
    """Convert ``source`` into recipe ``to`` (``"name"`` or ``"name.tag"``) and write a weights folder.

    Args:
        source: the upstream checkpoint (``.pth`` read with ``torch.load(weights_only=True)``, Detectron2's ``.pkl``
            read with an allow-list unpickler, or safetensors).
        to: the recipe, optionally with the weights tag the file is a copy of (its converter, options,
            classes and metadata apply; without a tag the converter is detected from the keys).
        out_dir: the folder to write (``model.safetensors``, ``config.json``, ``README.md``).
        **overrides: recipe options.
    """
    source = Path(source)
    model = build(to, weights=str(source), **overrides)
    arch, _, tag = to.partition(".")
    spec: WeightsSpec | None = model_registry().get(arch).meta["weights"][tag] if tag else None
    converter = getattr(model, CONFIG_ATTR).get("converted_from", {}).get("converter", "segzoo")
    out = Path(out_dir)
    save(model, out)
    digest = sha256_of(source)
    card = model_card(arch, tag or None, spec, source=source.name, source_sha256=digest, converter=converter)
    atomic_write(out / "README.md", lambda tmp: Path(tmp).write_text(card))
    return ConversionResult(out_dir=out, recipe=arch, tag=tag or None, converter=converter, source_sha256=digest)


def model_card(
    recipe: str, tag: str | None, spec: WeightsSpec | None, *, source: str, source_sha256: str, converter: str
) -> str:
    """The README of a converted weights folder (Markdown)."""
    name = f"{recipe}.{tag}" if tag else recipe
    lines = [
        f"# {name}", "",
        f"segzoo weights of recipe `{recipe}`, converted from `{source}` (sha256 `{source_sha256}`) by the "
        f"`{converter}` converter. Load them with `segzoo.load(\"<this folder>\")`.", "",
    ]  # fmt: skip
    if spec is None:
        lines += ["No published tag was given: the source, licence and classes of these weights are not recorded here.", ""]
        return "\n".join(lines)
    pre = spec.preprocessing
    lines += [
        f"- Source: {spec.url}" + (f" (published hash prefix `{spec.hash_prefix}`)" if spec.hash_prefix else ""),
        f"- Description: {spec.description}",
        f"- Trained on: {spec.dataset}",
        f"- Licence: {spec.license}",
        f"- Upstream input: {pre.color}, values {pre.input_range}, mean {list(pre.mean)}, std {list(pre.std)}"
        + (f"; evaluated with {pre.resize}" if pre.resize else "")
        + " (the converted model reads RGB; `predict` applies the normalisation in config.json)",
        f"- Classes ({spec.num_classes}): {', '.join(spec.class_names)}",
        "",
        "## Metrics reported upstream (not measured by segzoo)",
        "",
        *(f"- {k}: {v}" for k, v in spec.metrics.items()),
        "",
        f"Protocol: {spec.metrics_protocol}",
        "",
    ]
    return "\n".join(lines)
