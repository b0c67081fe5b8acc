"""``predict`` = prepare -> forward -> ``postprocess``: the last step is public and pure (the model is not
changed during a call, so two fusers can be used side by side)."""

from __future__ import annotations

import threading

import pytest
import torch
from conftest import build_tiny


def test_semantic_postprocess_is_the_argmax_and_predict_uses_it():
    model = build_tiny("fcn_r50").eval()
    x = torch.randn(2, 3, 40, 48)
    with torch.no_grad():
        raw = model(x)
        labels = model.postprocess(raw, x)
    assert [tuple(lab.shape) for lab in labels] == [(40, 48), (40, 48)]
    assert torch.equal(torch.stack(labels), raw.logits.argmax(1))
    image = torch.randint(0, 255, (3, 40, 48), dtype=torch.uint8)
    xi = model.normalize(image[None].float() / 255)
    with torch.no_grad():
        expected = model.postprocess(model(xi), xi)[0]
    assert torch.equal(model.predict(image), expected)
    with pytest.raises(TypeError, match="post-processing option crf only"):
        model.predict(image, fuser="heuristic")


def test_panoptic_postprocess_leaves_the_model_alone():
    model = build_tiny("panoptic_fpn_r50").eval()
    fuser, crf = model.fuser, model.crf
    x = model.normalize(torch.rand(1, 3, 64, 64))
    with torch.no_grad():
        raw = model(x)
        heuristic = model.postprocess(raw, x, fuser="heuristic")[0]
        upsnet = model.postprocess(raw, x, fuser="upsnet")[0]
        again = model.postprocess(raw, x)[0]
    assert model.fuser is fuser and model.crf is crf
    assert torch.equal(again.panoptic_seg, heuristic.panoptic_seg)  # the model's own fuser is the heuristic
    image = (torch.rand(3, 64, 64) * 255).to(torch.uint8)
    xi = model.normalize(image[None].float() / 255)
    with torch.no_grad():
        by_predict = model.predict(image, fuser="upsnet")
        direct = model.postprocess(model(xi), xi, fuser="upsnet")[0]
    assert model.fuser is fuser
    assert torch.equal(by_predict.panoptic_seg, direct.panoptic_seg)
    assert upsnet.panoptic_seg.shape == (64, 64)


def test_two_threads_predicting_with_different_fusers_do_not_interfere():
    from segzoo.fusers.panoptic import create_panoptic_fuser

    model = build_tiny("panoptic_fpn_r50").eval()
    classifier = [m for m in model.semantic_head.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 5][-1]
    with torch.no_grad():
        classifier.bias[3] += 20.0  # the semantic branch says "stuff class 3" everywhere
    fusers = {  # every stuff region kept vs none kept: different maps, so a mix-up between the threads shows
        "keep": create_panoptic_fuser("heuristic", stuff_area_limit=0),
        "drop": create_panoptic_fuser("heuristic", stuff_area_limit=10**9),
    }
    image = (torch.rand(3, 64, 64) * 255).to(torch.uint8)
    with torch.no_grad():
        expected = {name: model.predict(image, fuser=f).panoptic_seg for name, f in fusers.items()}
    assert not torch.equal(expected["keep"], expected["drop"])
    results: dict[str, list[torch.Tensor]] = {name: [] for name in fusers}

    def run(name: str) -> None:
        for _ in range(3):
            with torch.no_grad():
                results[name].append(model.predict(image, fuser=fusers[name]).panoptic_seg)

    threads = [threading.Thread(target=run, args=(name,)) for name in fusers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, segs in results.items():
        assert len(segs) == 3 and all(torch.equal(seg, expected[name]) for seg in segs), name


def test_predict_does_not_swap_the_models_fuser_during_the_call():
    """While predict(fuser=other) runs, model.fuser is still the model's own (it used to be swapped in place)."""
    from segzoo.fusers.panoptic import create_panoptic_fuser

    model = build_tiny("panoptic_fpn_r50").eval()
    own = model.fuser
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = create_panoptic_fuser("upsnet")

        def forward(self, *args, **kwargs):
            seen.append(model.fuser)
            return self.inner(*args, **kwargs)

    with torch.no_grad():
        model.predict((torch.rand(3, 48, 48) * 255).to(torch.uint8), fuser=Spy(), crf=False)
    assert seen == [own]
