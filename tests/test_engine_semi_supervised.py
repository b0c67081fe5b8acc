"""Pseudo-labelling with TTA and the teacher/student rounds of seed 001."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import segzoo
from segzoo.data import SegmentationFolder, SyntheticPanoptic, SyntheticSemantic
from segzoo.engine import SemiSupervised, TrainConfig, pseudo_label
from segzoo.postprocess import TTA


def test_pseudo_label_writes_a_folder_dataset_with_tta_labels(tmp_path):
    model = segzoo.build("fcn_r50", backbone="tiny", num_classes=8).eval()
    data = SyntheticSemantic(3, size=(32, 40), seed=2)
    result = pseudo_label(model, data, tmp_path / "pl", tta_scales=(0.5, 1.0), flip=True)
    assert result.names == ["000000", "000001", "000002"]
    folder = SegmentationFolder(tmp_path / "pl", num_classes=8)
    image, target = folder[1]
    assert torch.equal(image, data[1][0])  # the image is stored losslessly
    expected = TTA(model, scales=(0.5, 1.0), flip=True)(model.normalize(data[1][0][None].float() / 255))[0].argmax(0)
    assert torch.equal(target["sem_seg"], expected)
    # a threshold above every confidence ignores everything; the untrained model is never sure
    strict = pseudo_label(model, data, tmp_path / "strict", threshold=0.99)
    assert strict.ignored_fraction == 1.0
    mask = np.asarray(Image.open(tmp_path / "strict" / "masks" / "000000.png"))
    assert (mask == 255).all()


def test_pseudo_label_takes_image_files_and_panoptic_models(tmp_path):
    image = SyntheticPanoptic(1, size=(32, 32))[0][0]
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / "street.png")
    panoptic = segzoo.build("panoptic_fpn_r50", backbone="tiny", fpn_channels=32, box_channels=64, mask_channels=32,
                            num_classes=8, thing_ids=[0, 1, 2, 3], stuff_ids=[4, 5, 6, 7])  # fmt: skip
    result = pseudo_label(panoptic, [tmp_path / "street.png"], tmp_path / "pl", flip=False)
    assert result.names == ["street"]
    labels = np.asarray(Image.open(tmp_path / "pl" / "masks" / "street.png"))
    expected = panoptic.eval().semantic_logits(panoptic.normalize(image[None].float() / 255))[0].argmax(0)
    assert np.array_equal(labels, expected.numpy())
    with pytest.raises(ValueError, match="threshold"):
        pseudo_label(panoptic, [tmp_path / "street.png"], tmp_path / "x", threshold=2.0)


def test_two_rounds_chain_teachers_and_students(tmp_path):
    labelled = SyntheticSemantic(4, size=(32, 32), seed=0)
    unlabelled = SyntheticSemantic(3, size=(32, 32), seed=5)
    stage = TrainConfig(max_iters=2, batch_size=2, progress=False, checkpoint_every=0, lr=0.05)

    def build():
        return segzoo.build("fcn_r50", backbone="tiny", num_classes=8)

    loop = SemiSupervised(build, labelled, unlabelled, out_dir=tmp_path, rounds=2, teacher=stage, student=stage,
                          finetune=stage, tta_scales=(1.0,))  # fmt: skip
    rounds = loop.run()
    assert [r.round for r in rounds] == [1, 2]
    for r in rounds:
        assert sorted(p.name for p in (r.pseudo.directory / "masks").iterdir()) == ["000000.png", "000001.png", "000002.png"]
        teacher, student = segzoo.load(r.teacher_dir), segzoo.load(r.final_dir)
        differ = [not torch.equal(a, b) for a, b in zip(teacher.state_dict().values(), student.state_dict().values())]
        assert any(differ)
    # rounds chain: round 2's teacher is round 1's fine-tuned student, and its labels are that model's
    assert rounds[0].teacher_dir == tmp_path / "teacher" / "last"
    assert rounds[1].teacher_dir == rounds[0].final_dir == tmp_path / "round_1" / "finetune" / "last"
    round1 = segzoo.load(rounds[0].final_dir).eval()
    image = unlabelled[2][0]
    probs = TTA(round1, scales=(1.0,), flip=True)(round1.normalize(image[None].float() / 255))[0]
    written = np.asarray(Image.open(rounds[1].pseudo.directory / "masks" / "000002.png"))
    assert np.array_equal(written, probs.argmax(0).numpy())


@pytest.mark.parametrize("student_data, student_sizes", [("pseudo", [3, 3]), ("pseudo+labelled", [7, 7])])
def test_the_student_learns_from_the_pseudo_labels_then_is_fine_tuned(tmp_path, monkeypatch, student_data, student_sizes):
    """Seed 001 Sec. 3.4/4.1: teacher on labels; per round the student trains on the pseudo-labelled
    images only, then fine-tunes on the labelled set; two rounds by default."""
    labelled = SyntheticSemantic(4, size=(32, 32), seed=0)
    unlabelled = SyntheticSemantic(3, size=(32, 32), seed=5)
    stage = TrainConfig(max_iters=1, batch_size=2, progress=False, checkpoint_every=0)
    seen = []

    def record(self, model, data, stage_name, out, resume):
        seen.append((stage_name, len(data)))
        (out / "last").mkdir(parents=True, exist_ok=True)

    monkeypatch.setattr(SemiSupervised, "_train", record)
    build = lambda: segzoo.build("fcn_r50", backbone="tiny", num_classes=8)  # noqa: E731
    loop = SemiSupervised(build, labelled, unlabelled, out_dir=tmp_path, teacher=stage, student=stage, finetune=stage,
                          student_data=student_data, tta_scales=(1.0,))  # fmt: skip
    assert loop.rounds == 2
    loop.run()
    students = [n for name, n in seen if name == "student"]
    assert seen[0] == ("teacher", 4) and students == student_sizes
    assert [n for name, n in seen if name == "finetune"] == [4, 4]


def test_semi_supervised_defaults_follow_seed_001_and_bad_options_are_explained():
    from segzoo.postprocess import AINNOSEG_SCALES

    stage = TrainConfig(max_iters=1, batch_size=1)
    loop = SemiSupervised(lambda: None, [], [], out_dir="unused", teacher=stage, student=stage, finetune=stage)
    assert (loop.rounds, loop.student_data, loop.tta_scales, loop.flip) == (2, "pseudo", AINNOSEG_SCALES, True)
    with pytest.raises(ValueError, match="fine-tuned on the labelled set"):
        SemiSupervised(lambda: None, [], [], out_dir="unused", teacher=stage, student=stage, finetune=None)
    with pytest.raises(ValueError, match="student_data must be"):
        SemiSupervised(lambda: None, [], [], out_dir="x", teacher=stage, student=stage, finetune=stage, student_data="all")
