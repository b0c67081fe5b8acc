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
    annotation are left out. A JSON the reader can't use (a field missing or of the wrong type,
    an annotation of an unlisted image, an unknown category id, a repeated id) raises
    ``ValueError`` naming the file and the field; see :func:`check_panoptic_json`.
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
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"Cannot read the COCO panoptic JSON {self.json_file}: {e}") from e
        check_panoptic_json(data, self.json_file)
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
        for path, field in ((image_path, "images"), (png_path, "annotations")):
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} not found: the 'file_name' of image id {info['id']!r} in {field} of {self.json_file}. "
                    "Check that the image and PNG folders belong to this JSON."
                )
        image = read_image(image_path)
        ids = torch.from_numpy(rgb2id(read_rgb(png_path)))
        check_same_size(image, ids, image_path, png_path)
        try:
            target = panoptic_target(ids, ann["segments_info"], self.category_map, image_id=info["id"])
        except (ValueError, KeyError) as e:
            raise ValueError(f"{png_path} (image id {info['id']}): {e.args[0]}") from e
        return image, target


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_panoptic_json(data: Any, json_file: Path) -> None:
    """Raise ``ValueError`` naming ``json_file`` and the field (``annotations[3].segments_info[0].id``)
    when ``data`` is not a COCO panoptic JSON this reader can use.

    Checks the fields the reader uses: ``images[i].{id, file_name}``, ``annotations[i].{image_id,
    file_name, segments_info}``, ``segments_info[j].{id, category_id, iscrowd?}`` and
    ``categories[k].{id, name, isthing?, color?}``; ids unique where they must be, every
    annotation's ``image_id`` among the images and every ``category_id`` among the categories.
    """

    def fail(field: str, problem: str) -> None:
        raise ValueError(f"{json_file}: {field} {problem} (COCO panoptic format).")

    def need(obj: dict, where: str, key: str, ok: Any, expected: str, *, optional: bool = False) -> Any:
        if key not in obj:
            if optional:
                return None
            fail(f"{where}.{key}", f"is missing; expected {expected}")
        if not ok(obj[key]):
            fail(f"{where}.{key}", f"is {obj[key]!r}; expected {expected}")
        return obj[key]

    def records(key: str) -> list[dict]:
        items = data.get(key)
        if not isinstance(items, list):
            fail(key, f"is {'missing' if key not in data else type(items).__name__}; expected a list of objects")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                fail(f"{key}[{i}]", f"is {item!r}; expected an object")
        return items

    def is_image_id(v: Any) -> bool:
        return _is_int(v) or isinstance(v, str)  # Cityscapes panoptic uses string ids

    def is_name(v: Any) -> bool:
        return isinstance(v, str) and v != ""

    def is_flag(v: Any) -> bool:
        return isinstance(v, (int, bool)) and v in (0, 1)

    if not isinstance(data, dict):
        fail("the top level", f"is a {type(data).__name__}; expected an object with 'images', 'annotations', 'categories'")
    categories = set()
    for k, cat in enumerate(records("categories")):
        where = f"categories[{k}]"
        cid = need(cat, where, "id", lambda v: _is_int(v) and v >= 0, "a non-negative int")
        if cid in categories:
            fail(f"{where}.id", f"repeats category id {cid}; expected unique ids")
        categories.add(cid)
        need(cat, where, "name", lambda v: isinstance(v, str), "a string")
        need(cat, where, "isthing", is_flag, "0 or 1", optional=True)
        need(cat, where, "color", lambda v: isinstance(v, list) and len(v) == 3
             and all(_is_int(c) and 0 <= c <= 255 for c in v), "[R, G, B] ints in 0-255", optional=True)
    images = set()
    for i, img in enumerate(records("images")):
        iid = need(img, f"images[{i}]", "id", is_image_id, "an int or string image id")
        if iid in images:
            fail(f"images[{i}].id", f"repeats image id {iid!r}; expected unique ids")
        images.add(iid)
        need(img, f"images[{i}]", "file_name", is_name, "the image's file name")
    annotated = set()
    for i, ann in enumerate(records("annotations")):
        where = f"annotations[{i}]"
        iid = need(ann, where, "image_id", is_image_id, "an int or string image id")
        if iid not in images:
            fail(f"{where}.image_id", f"is {iid!r}, which is not the id of any entry in 'images'")
        if iid in annotated:
            fail(f"{where}.image_id", f"repeats image id {iid!r}; expected one annotation per image")
        annotated.add(iid)
        need(ann, where, "file_name", is_name, "the panoptic PNG's file name")
        segments = need(ann, where, "segments_info", lambda v: isinstance(v, list), "a list of segments")
        seen = set()
        for j, seg in enumerate(segments):
            at = f"{where}.segments_info[{j}]"
            if not isinstance(seg, dict):
                fail(at, f"is {seg!r}; expected an object with 'id' and 'category_id'")
            sid = need(seg, at, "id", lambda v: _is_int(v) and 0 < v < 256**3, "a segment id in 1..256^3-1")
            if sid in seen:
                fail(f"{at}.id", f"repeats segment id {sid}; expected unique ids within an image")
            seen.add(sid)
            need(seg, at, "category_id", lambda v: _is_int(v) and v in categories, "one of the 'categories' ids")
            need(seg, at, "iscrowd", is_flag, "0 or 1", optional=True)


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
