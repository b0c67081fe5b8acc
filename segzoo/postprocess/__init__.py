"""Post-processing: test-time augmentation, sliding-window inference and the dense CRF
(``segzoo.postprocess.crf``)."""

from . import crf
from .sliding_window import sliding_window_inference, window_starts
from .tta import AINNOSEG_SCALES, TTA, semantic_logits_fn

__all__ = ["crf", "AINNOSEG_SCALES", "TTA", "semantic_logits_fn", "sliding_window_inference", "window_starts"]
