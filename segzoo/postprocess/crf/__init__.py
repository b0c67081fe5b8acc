"""The dense CRF as post-processing: the same functions as :mod:`segzoo.crf` (where they live, below
the models, so a panoptic model's ``predict`` can refine its segments), under the name users of
``segzoo.postprocess`` look for."""

from ...crf import *  # noqa: F401,F403  (the public API, re-exported)
from ...crf import __all__  # noqa: F401
