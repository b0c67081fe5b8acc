"""Class names of the semantic datasets segzoo reads, in train-id order (plain data, torch-free).

The published-weights tables (:mod:`segzoo.published`) name the classes of their weights from
here without importing the dataset readers; :mod:`segzoo.data` builds its category maps from the
same tables.
"""

from __future__ import annotations

__all__ = ["ADE20K_CLASSES", "CITYSCAPES_TRAIN_TABLE", "CITYSCAPES_CLASSES"]

# The 150 class names of objectInfo150 (first name of each entry), ids 1..150 in this order.
ADE20K_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
    "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion",
    "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
    "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway",
    "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine",
    "hovel",
    "bus", "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool",
    "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball",
    "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher",
    "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan",
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip

# (label id, train id, name, isthing, color) of the 19 evaluated classes (cityscapesScripts labels.py).
CITYSCAPES_TRAIN_TABLE = (
    (7, 0, "road", 0, (128, 64, 128)),
    (8, 1, "sidewalk", 0, (244, 35, 232)),
    (11, 2, "building", 0, (70, 70, 70)),
    (12, 3, "wall", 0, (102, 102, 156)),
    (13, 4, "fence", 0, (190, 153, 153)),
    (17, 5, "pole", 0, (153, 153, 153)),
    (19, 6, "traffic light", 0, (250, 170, 30)),
    (20, 7, "traffic sign", 0, (220, 220, 0)),
    (21, 8, "vegetation", 0, (107, 142, 35)),
    (22, 9, "terrain", 0, (152, 251, 152)),
    (23, 10, "sky", 0, (70, 130, 180)),
    (24, 11, "person", 1, (220, 20, 60)),
    (25, 12, "rider", 1, (255, 0, 0)),
    (26, 13, "car", 1, (0, 0, 142)),
    (27, 14, "truck", 1, (0, 0, 70)),
    (28, 15, "bus", 1, (0, 60, 100)),
    (31, 16, "train", 1, (0, 80, 100)),
    (32, 17, "motorcycle", 1, (0, 0, 230)),
    (33, 18, "bicycle", 1, (119, 11, 32)),
)

CITYSCAPES_CLASSES = tuple(name for _, _, name, _, _ in CITYSCAPES_TRAIN_TABLE)  # the 19 train ids' names
