"""COCO panoptic reader and writer (Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868).

The COCO panoptic format: a JSON with ``images``, ``annotations`` (one per image:
``file_name`` of its PNG and ``segments_info``) and ``categories`` (``id, name, isthing,
color``), and a folder of RGB PNGs where a pixel's segment id is ``R + 256 G + 256^2 B``
(0 = void).

Reading follows Detectron2's COCO panoptic loader: the non-contiguous category ids (COCO:
1..200, 133 used) become contiguous train ids by sorting all categories by id, things and
stuff together (COCO: the 80 things get 0..79, the 53 stuff 80..132). Crowd segments keep
their category in ``sem_seg`` and appear among the instances with ``iscrowd=True``; void
pixels are 255 in ``sem_seg``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ._io import check_same_size, read_image, read_rgb
from .base import SegmentationDataset, Transform
from .panoptic_utils import CategoryMap, id2rgb, panoptic_target, rgb2id

__all__ = ["COCOPanoptic", "write_coco_panoptic"]

_LAYOUT = """  official COCO:  ROOT/{split}/*.jpg
                   ROOT/annotations/panoptic_{split}.json
                   ROOT/annotations/panoptic_{split}/*.png
  simple (what write_coco_panoptic writes):  ROOT/images/  ROOT/panoptic/  ROOT/panoptic.json
  or pass images=, panoptic= and annotations= (paths, relative to ROOT or absolute)."""


class COCOPanoptic(SegmentationDataset):
    """A COCO-panoptic-format dataset (COCO, or any JSON + PNG folder in that format).

    Args:
        root: dataset root.
        split: the COCO split name used by the official layout (``"train2017"``, ``"val2017"``).
        images, panoptic, annotations: the image folder, the PNG folder and the JSON file,
            relative to ``root`` or absolute; each one not given is found from the official
            layout, else from the simple layout ``images/``, ``panoptic/``, ``panoptic.json``.
        transforms: optional callable ``(image, target) -> (image, target)``.

    Each sample is ``(image, target)``: ``(3, H, W)`` uint8 and the panoptic target
    described in :mod:`segzoo.data` (``image_id`` is the JSON image id). Images without an
    annotation are left out.
    """

    task = "panoptic"

    def __init__(
        self,
        root: str | Path,
        *,
        split: str = "val2017",
        images: str | Path | None = None,
        panoptic: str | Path | None = None,
        annotations: str | Path | None = None,
        transforms: Transform | None = None,
    ) -> None:
        self.root = Path(root)
        self.image_dir, self.panoptic_dir, self.json_file = _resolve_layout(
            self.root, split, images, panoptic, annotations
        )
        try:
            data = json.loads(self.json_file.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"Cannot read the COCO panoptic JSON {self.json_file}: {e}") from e
        for key in ("images", "annotations", "categories"):
            if key not in data:
                raise ValueError(f"{self.json_file} has no {key!r} list; is it a COCO *panoptic* JSON?")
        super().__init__(category_map=CategoryMap(data["categories"]), transforms=transforms)
        by_image = {ann["image_id"]: ann for ann in data["annotations"]}
        self.images = [img for img in data["images"] if img["id"] in by_image]
        self.annotations = [by_image[img["id"]] for img in self.images]
        if not self.images:
            raise ValueError(f"{self.json_file} has no image with an annotation.")

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        info, ann = self.images[index], self.annotations[index]
        image_path = self.image_dir / info["file_name"]
        png_path = self.panoptic_dir / ann["file_name"]
        image = read_image(image_path)
        ids = torch.from_numpy(rgb2id(read_rgb(png_path)))
        check_same_size(image, ids, image_path, png_path)
        try:
            target = panoptic_target(ids, ann["segments_info"], self.category_map, image_id=info["id"])
        except (ValueError, KeyError) as e:
            raise ValueError(f"{png_path} (image id {info['id']}): {e.args[0]}") from e
        return image, target


def _resolve_layout(root: Path, split: str, images, panoptic, annotations) -> tuple[Path, Path, Path]:
    if not root.is_dir():
        raise FileNotFoundError(
            f"COCO panoptic root {root} does not exist or is not a folder. Expected layout:\n{_LAYOUT}"
        )
    annotations_dir = root / "annotations"
    official = (root / split, annotations_dir / f"panoptic_{split}", annotations_dir / f"panoptic_{split}.json")
    simple = (root / "images", root / "panoptic", root / "panoptic.json")
    given = [None if p is None else root / p for p in (images, panoptic, annotations)]
    for candidate in (official, simple):
        resolved = [g if g is not None else c for g, c in zip(given, candidate)]
        if resolved[0].is_dir() and resolved[1].is_dir() and resolved[2].is_file():
            return resolved[0], resolved[1], resolved[2]
    missing = [str(p) for layout in (official, simple) for p in layout if not p.exists()]
    raise FileNotFoundError(
        f"{root} is not a COCO panoptic dataset in a known layout (missing e.g. {missing[:3]}). "
        f"Expected one of:\n{_LAYOUT}"
    )


def write_coco_panoptic(dataset: Any, root: str | Path, *, image_format: str = "png", overwrite: bool = False) -> Path:
    """Write a panoptic dataset as ``root/images/``, ``root/panoptic/`` and ``root/panoptic.json``.

    Every ``dataset[i]`` (transforms included) must be a ``(3, H, W)`` uint8 image and a
    panoptic target (``panoptic``, ``segments_info``, ``image_id``); ``dataset.categories``
    gives the categories. ``COCOPanoptic(root)`` reads the result back; with
    ``image_format="png"`` (lossless) it gives back the same samples. Returns the JSON path.
    """
    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}.")
    root = Path(root)
    json_path = root / "panoptic.json"
    if json_path.exists() and not overwrite:
        raise FileExistsError(f"{json_path} exists; pass overwrite=True to replace it or choose another root.")
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "panoptic").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(len(dataset)):
        image, target = dataset[index]
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(
                f"Sample {index}: expected a (3, H, W) uint8 image, got {tuple(image.shape)} {image.dtype}."
            )
        image_id = target["image_id"]
        stem = f"{image_id:012d}" if isinstance(image_id, int) else str(image_id)
        height, width = image.shape[-2:]
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "images" / f"{stem}.{image_format}")
        Image.fromarray(id2rgb(target["panoptic"].numpy())).save(root / "panoptic" / f"{stem}.png")
        file_name = f"{stem}.{image_format}"
        images.append({"id": image_id, "file_name": file_name, "height": int(height), "width": int(width)})
        segments = [
            {
                "id": int(s["id"]),
                "category_id": int(s["category_id"]),
                "iscrowd": int(bool(s["iscrowd"])),
                "area": int(s["area"]),
                "bbox": [int(v) for v in s["bbox"]],
            }
            for s in target["segments_info"]
        ]
        annotations.append({"image_id": image_id, "file_name": f"{stem}.png", "segments_info": segments})
    categories = [
        {"id": c["id"], "name": c["name"], "isthing": int(c["isthing"]), "color": list(c["color"])}
        for c in dataset.categories
    ]
    json_path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return json_path
