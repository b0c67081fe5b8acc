"""File reading and layout checks shared by the dataset readers.

Every error names the file or folder at fault and says what was expected, so that a
wrongly unpacked dataset is fixed from the message alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_image",
    "read_label",
    "read_rgb",
    "check_same_size",
    "require_layout",
    "pair_by_stem",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _open(path: Path, what: str) -> Image.Image:
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise OSError(
            f"Cannot read {what.lower()} file {path} ({type(e).__name__}: {e}); is it a complete image?"
        ) from e
    return image


def read_image(path: Path) -> torch.Tensor:
    """An image file -> ``(3, H, W)`` uint8 tensor (grey, palette and RGBA images converted to RGB)."""
    image = _open(Path(path), "Image")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def read_label(path: Path) -> np.ndarray:
    """A single-channel label PNG (palette, 8-bit or 16-bit) -> ``(H, W)`` int64 array of stored values."""
    image = _open(Path(path), "Label")
    if image.mode not in ("P", "L", "I", "I;16", "I;16B", "I;16L", "1"):
        raise ValueError(
            f"Label file {path} has mode {image.mode!r}; expected a single-channel PNG of class indices "
            "(palette 'P', 8-bit 'L' or 16-bit 'I;16'). Colour-coded masks must be converted to indices first."
        )
    return np.array(image).astype(np.int64)  # 'P' gives the palette indices, not the colours


def read_rgb(path: Path) -> np.ndarray:
    """An RGB PNG (e.g. a COCO panoptic PNG) -> ``(H, W, 3)`` uint8 array."""
    image = _open(Path(path), "Panoptic PNG")
    if image.mode != "RGB":
        raise ValueError(f"Panoptic PNG {path} has mode {image.mode!r}; expected RGB (id = R + 256 G + 256^2 B).")
    return np.array(image, dtype=np.uint8)


def check_same_size(image: torch.Tensor, label: np.ndarray | torch.Tensor, image_path: Path, label_path: Path) -> None:
    """Raise ``ValueError`` naming both files when an image and its label differ in size."""
    if tuple(image.shape[-2:]) != tuple(label.shape[-2:]):
        raise ValueError(
            f"Image {image_path} is {image.shape[-2]}x{image.shape[-1]} (HxW) but its label {label_path} is "
            f"{label.shape[-2]}x{label.shape[-1]}; an image and its label must have the same size."
        )


def require_layout(root: Path, folders: Sequence[str], *, dataset: str, layout: str) -> None:
    """Check that ``root`` holds ``folders``; otherwise say which are missing and the expected layout."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{dataset} root {root} does not exist or is not a folder. Expected layout:\n{layout}")
    missing = [f for f in folders if not (root / f).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"{dataset} root {root} is missing the folder(s) {missing}. Expected layout:\n{layout}\n"
            f"Found: {sorted(p.name for p in root.iterdir())[:20]}"
        )


def pair_by_stem(
    images: Iterable[Path], labels: Iterable[Path], *, dataset: str, label_suffix: str = "", image_suffix: str = ""
) -> list[tuple[Path, Path]]:
    """Pair image and label files by name (minus the given suffixes); every image needs a label.

    Returns the pairs sorted by image path. Raises ``FileNotFoundError`` listing images
    without labels, and ``ValueError`` for two images with the same name.
    """
    by_key: dict[str, Path] = {}
    for p in labels:
        by_key[_strip(p.stem, label_suffix)] = p
    pairs, missing, seen = [], [], {}
    for p in sorted(images):
        key = _strip(p.stem, image_suffix)
        if key in seen:
            raise ValueError(f"{dataset}: two images share the name {key!r}: {seen[key]} and {p}.")
        seen[key] = p
        if key in by_key:
            pairs.append((p, by_key[key]))
        else:
            missing.append(p)
    if missing:
        shown = ", ".join(str(m) for m in missing[:5])
        pattern = f" (*{label_suffix}.png)" if label_suffix else ""
        raise FileNotFoundError(f"{dataset}: {len(missing)} image(s) have no label file{pattern}, e.g. {shown}.")
    return pairs


def _strip(stem: str, suffix: str) -> str:
    return stem[: -len(suffix)] if suffix and stem.endswith(suffix) else stem
