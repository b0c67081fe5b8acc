"""The benchmark runner, the fast inference path (``optimize``), FLOP counting and the fingerprint."""

from __future__ import annotations

import csv
import json
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from conftest import build_tiny
from torch import nn

from segzoo.bench import COLUMNS, BenchConfig, count_flops, fingerprint, optimize, run_benchmark
from segzoo.bench.fingerprint import FINGERPRINT_KEYS
from segzoo.bench.optimize import MIN_AGREEMENT, find_conv_bn_pairs, fold_batchnorm
from segzoo.bench.report import _plot_pillow, markdown_table
from segzoo.bench.runner import parse_size, select_models
from segzoo.bench.timing import latency_stats
from segzoo.cli.bench import main
from segzoo.models.semantic import SemanticModel

TINY = ["--set", "backbone=tiny", "--num-classes", "4", "--threads", "1", "--gemm-size", "128", "--no-progress"]
FP32 = ["--precision", "fp32"]  # the smoke tests force one precision path: "auto" differs between machines


def _check_row(row: dict) -> None:
    assert set(COLUMNS) <= set(row)
    assert row["error"] is None
    assert row["params_m"] > 0 and row["gflops"] > 0
    assert row["latency_mean_ms"] > 0 and row["latency_min_ms"] > 0
    assert row["latency_min_ms"] <= row["latency_p50_ms"] <= row["latency_p90_ms"]
    assert row["throughput_ips"] == pytest.approx(row["batch"] * 1000 / row["latency_mean_ms"])
    assert row["postprocess_ms"] >= 0 and row["total_ms"] >= row["latency_mean_ms"]
    assert row["achieved_gflops_s"] > 0 and row["gemm_peak_gflops_s"] > 0 and row["peak_fraction"] > 0
    # The rule, not one machine's value: in fp32 the fast path keeps the labels; a reduced precision the
    # automatic choice kept has kept them on the decisive pixels (segzoo.bench.precision).
    assert 0.0 <= row["agreement"] <= 1.0
    if row["precision"] == "float32":
        assert row["agreement"] >= MIN_AGREEMENT
    elif row["fast_path"]:
        assert row["agreement_decisive"] >= MIN_AGREEMENT
    if row["precision"] == "float32" and row["fast_path"]:
        assert row["agreement"] >= 0.999  # BN folding + channels-last only: labels change only at exact ties
    assert row["mem_kind"] in ("rss_growth", "cuda_allocator_peak")


def test_runner_smoke_writes_every_format(tmp_path, capsys):
    out = tmp_path / "res"
    argv = ["fcn_r50", "--size", "32x32,24x40", "--iters", "2", "--out", str(out), "--plot", *TINY, *FP32]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| fcn_r50 | 32x32 |" in printed and "| fcn_r50 | 24x40 |" in printed

    data = json.loads((out / "bench.json").read_text())
    assert set(data) == {"rows", "fingerprint", "config", "command", "gemm_peak_gflops_s"}
    assert data["command"].startswith("segzoo bench fcn_r50") and set(data["fingerprint"]) == set(FINGERPRINT_KEYS)
    assert [(r["height"], r["width"]) for r in data["rows"]] == [(32, 32), (24, 40)]
    for row in data["rows"]:
        _check_row(row)
        assert row["folded_bn"] == 11 and row["precision"] == "float32"
        assert row["postprocess"] == "argmax" and row["iters"] == 2 and row["threads"] == 1

    lines = (out / "bench.csv").read_text().splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert any(line.startswith("# cpu_model:") for line in comments) and comments[0].startswith("# command: segzoo bench")
    table = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert list(table[0]) == list(COLUMNS) and len(table) == 2
    assert float(table[0]["latency_p50_ms"]) <= float(table[0]["latency_p90_ms"])

    md = (out / "bench.md").read_text()
    assert "| model | input |" in md and "torch " in md and "GEMM peak" in md and "fcn_r50" in md
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runner_panoptic_and_eager_rows():
    config = BenchConfig(
        models=["panoptic_fpn_r50"], sizes=[(32, 32)], warmup=0, iters=2, threads=1, gemm_size=128, fast=False,
        memory_format="contiguous", precision="fp32",
        overrides=dict(backbone="tiny", fpn_channels=16, box_channels=32, mask_channels=16, rpn_top_n=(50, 20),
                       detections_per_img=5),
    )  # fmt: skip
    result = run_benchmark(config, progress=False, command="test")
    (row,) = result.rows
    _check_row(row)
    assert row["task"] == "panoptic" and row["postprocess"].startswith("panoptic fusion")
    assert row["fast_path"] is False and row["folded_bn"] is None


def test_runner_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["fcn_r50", "--set", "bogus=1", "--out", str(tmp_path), *TINY]) == 2
    assert "unknown argument(s) 'bogus'" in capsys.readouterr().err
    assert main(["fcnn_r50", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "did you mean 'fcn_r50'" in capsys.readouterr().err.lower()


def test_segzoo_cli_bench_subcommand(tmp_path, capsys, monkeypatch):
    """``segzoo bench`` is the same runner: same table, files named by --name, exit 2 on bad input."""
    from segzoo.cli import main as cli_main

    monkeypatch.setattr("sys.argv", ["segzoo", "bench", "fcn_r50"])
    argv = ["bench", "fcn_r50", "--size", "32x32", "--iters", "2", "--warmup", "0", "--out", str(tmp_path),
            "--name", "t", "--format", "json", *TINY, *FP32]  # fmt: skip
    assert cli_main(argv) == 0
    assert "| fcn_r50 | 32x32 |" in capsys.readouterr().out
    (row,) = json.loads((tmp_path / "t.json").read_text())["rows"]
    _check_row(row)
    assert not (tmp_path / "t.csv").exists()
    assert cli_main(["bench", "fcnn_r50", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segzoo bench: error:") and "did you mean 'fcn_r50'" in err.lower()


def test_select_models_and_sizes():
    assert select_models(["fcn_r50", "deeplabv3p_*", "fcn_*"]) == ["fcn_r50", "deeplabv3p_mobilenetv2", "deeplabv3p_r50", "fcn_r101"]
    with pytest.raises(ValueError, match="No model matches"):
        select_models(["zzz*"])
    assert parse_size("512x1024") == (512, 1024) and parse_size("96") == (96, 96)
    with pytest.raises(ValueError):
        parse_size("512by512")
    stats = latency_stats([4.0, 1.0, 2.0, 3.0])
    assert stats["latency_mean_ms"] == 2.5 and stats["latency_p50_ms"] == 2.5 and stats["latency_p90_ms"] == pytest.approx(3.7)


def _randomise_bn(model: nn.Module) -> None:
    """Non-trivial running statistics so that a wrong fold would show."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def test_optimize_folds_every_batchnorm_and_matches_eager():
    model = build_tiny("fcn_r50").eval()
    _randomise_bn(model)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    x = torch.randn(2, 3, 48, 40)
    fast = optimize(model, dtype="fp32", sample=x[:1])
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fast.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    report = fast.segzoo_optimize
    assert report.folded_bn == n_bn == 11 and report.remaining_bn == 0  # the aux head's BN too (nn.Sequential)
    assert report.agreement == 1.0 and report.max_abs_diff < 1e-4 and report.dtype == "float32"
    assert isinstance(fast, SemanticModel) and report.channels_last
    with torch.no_grad():
        expected = model(x).logits
    out = fast(x).logits
    assert out.dtype == torch.float32 and out.shape == expected.shape
    assert (out - expected).abs().max().item() < 1e-4
    labels = fast.predict(torch.randint(0, 255, (3, 40, 44), dtype=torch.uint8))
    assert labels.shape == (40, 44)


class _OneHotLogits(nn.Module):
    """Logits = a 1x1 conv of the input: with one-hot inputs x 10 a "trained" network (margins ~10),
    with N(0, 1) inputs and tiny weights a near-tie one."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(4).view(4, 4, 1, 1) * scale + torch.randn(4, 4, 1, 1) * 0.01 * scale)
            self.conv.bias.fill_(100.0)  # a common offset: bf16 rounds the logits at 100 to 0.5 steps

    def forward(self, x):
        return self.conv(x)


def _one_hot_sample(seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (1, 32, 32), generator=g)
    return F.one_hot(labels, 4).permute(0, 3, 1, 2).float() * 10 + torch.randn(1, 4, 32, 32, generator=g) * 0.1


def test_precision_check_separates_decisive_pixels_from_near_ties():
    from segzoo.bench.precision import auto_accepts, compare_precision

    g = torch.Generator().manual_seed(0)
    reference = F.one_hot(torch.randint(0, 5, (2, 16, 16), generator=g), 5).permute(0, 3, 1, 2).float() * 8
    noisy = reference + torch.randn(reference.shape, generator=g) * 0.05  # a small error, large margins
    check = compare_precision(reference, noisy)
    assert check.agreement == 1.0 and check.decisive_share == 1.0 and auto_accepts(check, min_agreement=0.995)
    ties = torch.randn(reference.shape, generator=g) * 0.01  # margins the size of the error
    check = compare_precision(ties, ties + torch.randn(ties.shape, generator=g) * 0.01)
    assert check.decisive_share < 0.5 and not auto_accepts(check, min_agreement=0.995)
    flipped = noisy.clone()
    flipped[0, :, 0, :4] = flipped[0, :, 0, :4].roll(1, dims=0)  # 4 of 512 confident pixels changed: a broken kernel
    check = compare_precision(reference, flipped)
    assert check.decisive_share > 0.99 and check.decisive_agreement == pytest.approx(508 / 512)
    assert not auto_accepts(check, min_agreement=0.995)
    flipped[:, :, :4] = reference[:, :, :4].roll(1, dims=1)  # a quarter of them: the error swamps the margins
    assert not auto_accepts(compare_precision(reference, flipped), min_agreement=0.995)
    broken = noisy.clone()
    broken[0, 0, 0, 0] = float("nan")
    assert not compare_precision(reference, broken).finite and not auto_accepts(compare_precision(reference, broken), min_agreement=0.5)


def test_an_explicit_reduced_precision_is_honoured_and_warns_below_the_threshold():
    torch.manual_seed(0)
    model = _OneHotLogits(scale=1e-3)  # near ties everywhere: bf16 flips many labels
    with pytest.warns(UserWarning, match="used as requested"):
        fast = optimize(model, dtype="bf16", sample=torch.randn(1, 4, 32, 32), fuse_bn=False)
    report = fast.segzoo_optimize
    assert report.dtype == "bfloat16" and not report.fell_back and report.agreement < MIN_AGREEMENT
    assert report.decision == "bfloat16 (requested)"


@pytest.mark.parametrize("trained", [True, False], ids=["trained-like", "near-ties"])
def test_automatic_precision_keeps_bf16_on_decisive_logits_only(trained, monkeypatch):
    """The automatic rule on a CPU that claims native bf16 (patched: the rule, not the machine)."""
    import importlib

    monkeypatch.setattr(importlib.import_module("segzoo.bench.optimize"), "cpu_supports_bf16", lambda: True)
    torch.manual_seed(0)
    model = _OneHotLogits(scale=1.0 if trained else 1e-3)
    sample = _one_hot_sample() if trained else torch.randn(1, 4, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = optimize(model, sample=sample, fuse_bn=False).segzoo_optimize
    assert report.requested_dtype == "bfloat16"
    if trained:
        assert report.dtype == "bfloat16" and not report.fell_back and report.decisive_share > 0.9
        assert "automatic" in report.decision and report.decisive_agreement >= MIN_AGREEMENT
    else:
        assert report.dtype == "float32" and report.fell_back and report.agreement == 1.0
        assert report.decision.startswith("float32 (automatic:")


class _Residual(nn.Module):
    """conv -> bn, but the conv output also feeds the residual sum: must not be folded."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + self.conv2_used_twice(y)

    def conv2_used_twice(self, y):
        return self.bn2(self.conv2(y))


def test_fold_pairs_respect_dataflow_and_keep_timm_activation():
    from timm.layers import BatchNormAct2d

    model = _Residual().eval()
    _randomise_bn(model)
    x = torch.randn(1, 4, 8, 8)
    pairs = find_conv_bn_pairs(model, lambda: model(x))
    assert pairs == [("conv2", "bn2")]  # conv's output also goes to conv2: not folded

    seq = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), BatchNormAct2d(6, act_layer=nn.ReLU)).eval()
    _randomise_bn(seq)
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        expected = seq(x)
        assert fold_batchnorm(seq, find_conv_bn_pairs(seq, lambda: seq(x))) == 1
        assert isinstance(seq[1], nn.Sequential) and isinstance(seq[1][-1], nn.ReLU)
        assert torch.allclose(seq(x), expected, atol=1e-5)
        assert (seq(x) >= 0).all()  # the activation survived the fold


def test_count_flops_known_answer():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_flops(conv, torch.randn(1, 3, 16, 16)) == 2 * 8 * 3 * 9 * 16 * 16  # FLOPs = 2 x MACs
    lin = nn.Linear(10, 20)
    assert count_flops(lin, torch.randn(4, 10)) == 2 * 4 * 10 * 20


def test_count_flops_counts_a_deformable_conv_as_the_conv_it_computes():
    from torchvision.ops import deform_conv2d

    x, weight = torch.randn(2, 6, 12, 10), torch.randn(4, 3, 3, 3)  # two groups of 3 input channels
    offset = torch.randn(2, 18, 12, 10)
    assert count_flops(deform_conv2d, x, offset, weight, padding=1) == 2 * 2 * 4 * 12 * 10 * 3 * 9


def test_fingerprint_has_expected_keys():
    fp = fingerprint()
    assert tuple(fp) == FINGERPRINT_KEYS
    assert isinstance(fp["cpu_model"], str) and fp["cpu_model"]
    assert fp["torch"] == torch.__version__ and fp["cpu_count"] >= 1
    assert isinstance(fp["cpu_bf16"], bool)
    assert set(fp["simd_flags"].split()) <= set(fp["cpu_flags"].split())


def test_markdown_table_and_pillow_plot(tmp_path):
    rows = [dict.fromkeys(COLUMNS) | {"model": "a", "height": 8, "width": 8, "batch": 1, "params_m": 1.0,
                                       "latency_mean_ms": 10.0},
            dict.fromkeys(COLUMNS) | {"model": "b", "height": 8, "width": 8, "batch": 1, "error": "ValueError: x"}]  # fmt: skip
    md = markdown_table(rows)
    assert md.splitlines()[0].startswith("| model | input | batch |") and "**b 8x8 batch 1 failed:**" in md
    assert "| a | 8x8 | 1 |" in md and not math.isnan(rows[0]["params_m"])
    path = _plot_pillow([(1.0, 10.0, "a"), (25.0, 300.0, "b")], tmp_path / "p.png")
    from PIL import Image

    with Image.open(path) as im:
        assert im.size == (960, 640)


def test_plot_adds_accuracy_panel_from_metrics_file(tmp_path):
    """--metrics {model: {name: value}} puts the metric on the rows and a latency-vs-accuracy panel in the plot."""
    pytest.importorskip("matplotlib")
    from PIL import Image

    from segzoo.bench.report import write_plot
    from segzoo.cli.bench import load_metrics

    path = tmp_path / "m.json"
    path.write_text(json.dumps({"a": {"mIoU": 0.7}, "b": 0.5}))
    assert load_metrics(str(path)) == {"a": ("mIoU", 0.7), "b": ("metric", 0.5)}
    rows = [{"model": m, "height": 8, "width": 8, "batch": 1, "params_m": p, "latency_mean_ms": t}
            for m, p, t in (("a", 1.0, 10.0), ("b", 5.0, 30.0))]  # fmt: skip
    with Image.open(write_plot(rows, tmp_path / "plain.png")) as im:
        plain = im.size
    rows[0] |= {"metric_name": "mIoU", "metric": 0.7}
    with Image.open(write_plot(rows, tmp_path / "acc.png")) as im:
        assert im.size[0] > plain[0] and im.size[1] == plain[1]  # a second panel
    path.write_text(json.dumps({"a": "high"}))
    with pytest.raises(ValueError, match='"mIoU": 0.72'):
        load_metrics(str(path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_metrics(str(tmp_path / "none.json"))


def test_accuracy_on_a_dataset_spec_trains_evaluates_and_writes(tmp_path, capsys):
    """segzoo bench --accuracy --data KIND:ROOT: the real-data path, here on the synthetic spec (8 images)."""
    argv = ["fcn_r50", "panoptic_fpn_r50", "--accuracy", "--data", "synthetic:8", "--set", "backbone=tiny",
            "--train-iters", "3", "--train-batch", "2", "--threads", "1", "--no-progress", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped panoptic_fpn_r50" in printed and "| fcn_r50 | semantic | tiny |" in printed
    data = json.loads((tmp_path / "accuracy_synthetic.json").read_text())
    (row,) = data["rows"]
    assert data["budget"]["iters"] == 3 and data["budget"]["train_images"] == 8
    assert 0 <= row["mIoU"] <= 100 and 0 <= row["aAcc"] <= 100
    assert row["score"] == pytest.approx((row["mIoU"] + row["aAcc"]) / 2)
    assert data["command"].startswith("segzoo bench fcn_r50")
    assert main(["fcn_r50", "--data", "synthetic:8", "--out", str(tmp_path)]) == 2
    assert "--data goes with --accuracy" in capsys.readouterr().err


@pytest.mark.parametrize("has_bf16", [True, False], ids=["bf16-cpu", "no-bf16-cpu"])
def test_auto_precision_rule_on_either_cpu(has_bf16, tmp_path, capsys, monkeypatch):
    """``--precision auto`` on a CPU with and without native bf16 (the check is patched, so both
    paths run on any machine): the row reports the precision it used and an agreement of at least
    the threshold, or the fall-back to fp32 that a failed check causes."""
    import importlib

    optimize_module = importlib.import_module("segzoo.bench.optimize")  # the attribute is the function

    monkeypatch.setattr(optimize_module, "cpu_supports_bf16", lambda: has_bf16)
    assert optimize_module.resolve_dtype("auto", "cpu") == (torch.bfloat16 if has_bf16 else torch.float32)
    argv = ["fcn_r50", "--size", "32x32", "--iters", "1", "--warmup", "0", "--out", str(tmp_path), "--format", "json",
            "--precision", "auto", *TINY]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no native bf16" where the patch claims what the CPU lacks
        assert main(argv) == 0
    (row,) = json.loads((tmp_path / "bench.json").read_text())["rows"]
    _check_row(row)
    assert row["precision"] in (("bfloat16", "float32") if has_bf16 else ("float32",))
    if row["precision"] == "bfloat16":
        assert MIN_AGREEMENT <= row["agreement"] <= 1.0


def test_no_row_exceeds_its_peak_and_the_row_says_where_the_peak_came_from(monkeypatch):
    """A row faster than the measured matmul (here: a matmul patched to a tiny rate) becomes its
    precision's peak; compiled rows time the compiling first call on its own."""
    import importlib

    runner = importlib.import_module("segzoo.bench.runner")
    monkeypatch.setattr(runner, "_measure_peak", lambda device, dtype, size: 1e-6)
    monkeypatch.setattr(nn.Module, "compile", lambda self, *a, **k: None)  # the logic, not inductor's time
    config = BenchConfig(models=["fcn_r50"], sizes=[(32, 32), (48, 48)], precision="fp32", iters=1, warmup=0,
                         overrides={"backbone": "tiny"}, num_classes=4, gemm_size=64, compile=True)  # fmt: skip
    rows = run_benchmark(config, progress=False).rows
    fastest = max(rows, key=lambda r: r["achieved_gflops_s"])
    assert all(0 < r["peak_fraction"] <= 1.0 for r in rows) and fastest["peak_fraction"] == 1.0
    assert all(r["peak_source"] == f"row fcn_r50 {fastest['height']}x{fastest['width']} b1 (above the matmul)" for r in rows)
    assert all(r["compile_s"] is not None and r["compile_s"] > 0 for r in rows)


def test_the_matmul_peak_is_the_source_when_no_row_beats_it(monkeypatch):
    import importlib

    runner = importlib.import_module("segzoo.bench.runner")
    monkeypatch.setattr(runner, "_measure_peak", lambda device, dtype, size: 1e9)
    config = BenchConfig(models=["fcn_r50"], sizes=[(32, 32)], precision="fp32", iters=1, warmup=0,
                         overrides={"backbone": "tiny"}, num_classes=4, gemm_size=64)  # fmt: skip
    (row,) = run_benchmark(config, progress=False).rows
    assert row["peak_source"].startswith("matmul 64^3, best of 10") and row["peak_fraction"] < 1e-3
    assert row["compile_s"] is None


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_optimize_runs_the_ranking_module_of_postprocess_at_the_networks_precision(dtype):
    """OANet's ranking convs run in postprocess, outside forward: optimize wraps them too."""
    model = build_tiny("panoptic_se_r50").eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bf16 on a CPU without native bf16, a low agreement on random weights
        fast = optimize(model, dtype=dtype, sample=torch.randn(1, 3, 64, 64))
    seen = []
    first_conv = next(m for m in fast.ranking.modules() if isinstance(m, nn.Conv2d))
    first_conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    x = torch.rand(1, len(fast.thing_ids), 16, 16)
    out = fast.ranking(x)
    assert seen == [torch.bfloat16 if dtype == "bf16" else torch.float32]
    assert out.dtype == torch.float32 and fast.ranking._segzoo_fast is fast._segzoo_fast
    with torch.no_grad():
        assert torch.allclose(out, model.ranking(x), rtol=0.05, atol=0.05)  # the same module, at another precision


def test_an_optimized_ranking_model_ranks_like_the_eager_one_in_postprocess():
    from segzoo.models.panoptic.model import PanopticRawOutput

    model = build_tiny("panoptic_se_r50").eval()
    fast = optimize(model, dtype="fp32", sample=torch.randn(1, 3, 64, 64))
    g = torch.Generator().manual_seed(0)
    corner = torch.rand(12, 2, generator=g) * 40
    boxes = torch.cat([corner, corner + torch.rand(12, 2, generator=g) * 20 + 4], 1)
    det = {"boxes": boxes, "scores": torch.rand(12, generator=g) * 0.5 + 0.5,
           "labels": torch.tensor(list(model.thing_ids) * 12)[:12], "mask_logits": torch.randn(12, 28, 28, generator=g) * 3}  # fmt: skip
    raw = PanopticRawOutput(sem_logits=torch.randn(1, model.num_classes, 16, 16, generator=g), detections=[det],
                            image_sizes=[(64, 64)])  # fmt: skip
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        (eager,) = model.postprocess(raw, x)
        (optimized,) = fast.postprocess(raw, x)
    ranks = eager.instances["rank_scores"]
    assert ranks.shape == (12,) and len(set(ranks.tolist())) > 6
    assert torch.allclose(optimized.instances["rank_scores"], ranks, rtol=1e-4, atol=1e-5)
