"""Tests of the backbone contract for every registered backbone (CPU, 64x64 inputs).

Backbones: ResNet (arXiv:1512.03385), ResNeXt (arXiv:1611.05431), SE-ResNet
(arXiv:1709.01507), HRNet (arXiv:1908.07919), MobileNetV2/V3 (arXiv:1801.04381,
arXiv:1905.02244), VGG16 LargeFOV (arXiv:1412.7062) and the tiny test backbone.
"""

from __future__ import annotations

import inspect
import signal
import socket
import threading

import pytest
import torch

from segzoo.backbones import (
    BACKBONES,
    BackboneWeightsError,
    FeatureInfo,
    TimmBackbone,
    TinyBackbone,
    VGG16LargeFOV,
    create_backbone,
    list_backbones,
)

SIZE = 64
ALL_STRIDES = (8, 16, 32)
# Slow to build on CPU (40-80M parameters): the default run checks them at their native stride
# only; their dilated strides and in_chans run with -m slow. Every family stays in the default run.
BIG = {"resnet101", "resnext101_64x4d", "seresnet101", "hrnet_w32", "hrnet_w48"}

# Channels and strides at the native output stride, as published.
NATIVE = {
    "resnet18": ((64, 128, 256, 512), (4, 8, 16, 32)),
    "resnet34": ((64, 128, 256, 512), (4, 8, 16, 32)),
    "resnet50": ((256, 512, 1024, 2048), (4, 8, 16, 32)),
    "resnet101": ((256, 512, 1024, 2048), (4, 8, 16, 32)),
    "resnext101_64x4d": ((256, 512, 1024, 2048), (4, 8, 16, 32)),
    "seresnet50": ((256, 512, 1024, 2048), (4, 8, 16, 32)),
    "seresnet101": ((256, 512, 1024, 2048), (4, 8, 16, 32)),
    "hrnet_w18": ((18, 36, 72, 144), (4, 8, 16, 32)),
    "hrnet_w32": ((32, 64, 128, 256), (4, 8, 16, 32)),
    "hrnet_w48": ((48, 96, 192, 384), (4, 8, 16, 32)),
    "mobilenetv2_100": ((24, 32, 96, 320), (4, 8, 16, 32)),
    "mobilenetv3_large_100": ((24, 40, 112, 960), (4, 8, 16, 32)),
    "mobilenetv3_large_100_tv": ((24, 40, 80, 960), (4, 8, 16, 32)),
    "vgg16_largefov": ((128, 256, 512, 1024), (4, 8, 8, 8)),
    "tiny": ((8, 16, 32, 64), (4, 8, 16, 32)),
}


def _case(name: str, *values, slow: bool = True):
    return pytest.param(name, *values, marks=[pytest.mark.slow] if slow and name in BIG else [])


def _supported(name: str) -> tuple[int, ...]:
    return tuple(BACKBONES.get(name).meta["output_strides"])


def _stride_cases():
    for name in list_backbones():
        for os_ in (None, *_supported(name)):
            yield _case(name, os_, slow=os_ is not None)


def _unsupported_cases():
    for name in list_backbones():
        for os_ in ALL_STRIDES:
            if os_ not in _supported(name):
                yield name, os_


def _check_outputs(model, feats, batch: int = 2, size: int = SIZE) -> None:
    assert isinstance(feats, list) and len(feats) == len(model.feature_info)
    for f, info in zip(feats, model.feature_info):
        assert isinstance(info, FeatureInfo)
        assert tuple(f.shape) == (batch, info.channels, size // info.stride, size // info.stride), info


# --- registry and contract ------------------------------------------------------------------


def test_every_backbone_is_described():
    assert set(NATIVE) <= set(list_backbones())
    for name in list_backbones():
        entry = BACKBONES.get(name)
        assert entry.meta["family"], name
        assert "arXiv:" in entry.meta["paper"], name
        assert set(entry.meta["output_strides"]) <= set(ALL_STRIDES), name
        # create_backbone passes exactly these keyword-only arguments.
        params = inspect.signature(entry.fn).parameters.values()
        assert [(p.name, p.kind) for p in params] == [
            (n, inspect.Parameter.KEYWORD_ONLY) for n in ("output_stride", "in_chans", "pretrained", "weights")
        ], name


@pytest.mark.parametrize("name, output_stride", list(_stride_cases()))
def test_feature_info_matches_outputs(name, output_stride):
    model = create_backbone(name, output_stride=output_stride).eval()
    with torch.no_grad():
        feats = model(torch.randn(2, 3, SIZE, SIZE))
    _check_outputs(model, feats)
    strides = [f.stride for f in model.feature_info]
    assert strides == sorted(strides), "levels must be high resolution first"
    if name in NATIVE:
        channels, native = NATIVE[name]
        cap = output_stride or max(native)
        assert tuple(f.channels for f in model.feature_info) == channels
        assert tuple(f.stride for f in model.feature_info) == tuple(min(s, cap) for s in native)


@pytest.mark.parametrize("name, output_stride", list(_unsupported_cases()))
def test_unsupported_output_stride_raises(name, output_stride):
    with pytest.raises(ValueError, match="output_stride"):
        create_backbone(name, output_stride=output_stride)


def test_hrnet_explains_why_it_does_not_dilate():
    with pytest.raises(ValueError, match="stride-4 branch"):
        create_backbone("hrnet_w18", output_stride=16)


def test_classes():
    assert isinstance(create_backbone("resnet18"), TimmBackbone)
    assert isinstance(create_backbone("tiny"), TinyBackbone)
    assert isinstance(create_backbone("vgg16_largefov"), VGG16LargeFOV)


@pytest.mark.parametrize("name", [_case(n) for n in list_backbones()])
def test_in_chans(name):
    for in_chans in (1, 4):
        model = create_backbone(name, in_chans=in_chans).eval()
        with torch.no_grad():
            feats = model(torch.randn(1, in_chans, SIZE, SIZE))
        _check_outputs(model, feats, batch=1)
        stem = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        assert stem.in_channels == in_chans


def test_tiny_dilation_keeps_resolution_and_is_small():
    model = create_backbone("tiny", output_stride=8)
    assert [f.stride for f in model.feature_info] == [4, 8, 8, 8]
    dilations = [m.dilation[0] for m in model.stages[3].modules() if isinstance(m, torch.nn.Conv2d)]
    assert dilations == [2, 4, 1]  # first conv keeps the previous dilation, 1x1 pointwise undilated
    assert sum(p.numel() for p in model.parameters()) < 50_000


def test_vgg_largefov_layout():
    model = create_backbone("vgg16_largefov")
    pools = [(i, m.stride) for i, m in enumerate(model.features) if isinstance(m, torch.nn.MaxPool2d)]
    assert pools == [(4, 2), (9, 2), (16, 2), (23, 1), (30, 1)]
    convs = {i: m for i, m in enumerate(model.features) if isinstance(m, torch.nn.Conv2d)}
    assert [convs[i].dilation[0] for i in (24, 26, 28)] == [2, 2, 2]
    assert (model.fc6.kernel_size, model.fc6.dilation, model.fc6.out_channels) == ((3, 3), (12, 12), 1024)
    assert (model.fc7.kernel_size, model.fc7.out_channels) == ((1, 1), 1024)
    # dropout is active in training mode only
    model.train()
    x = torch.randn(1, 3, 32, 32)
    assert not torch.equal(model(x)[-1], model(x)[-1])


# --- SE attention ------------------------------------------------------------------------------


def test_seresnet50_has_se_with_reduction_16_in_every_bottleneck():
    from timm.models.resnet import Bottleneck

    model = create_backbone("seresnet50").eval()
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 3 + 4 + 6 + 3
    calls = []
    for block in blocks:
        channels = block.conv3.out_channels
        assert block.se.fc1.in_channels == channels and block.se.fc2.out_channels == channels
        assert block.se.fc1.out_channels == channels // 16
        block.se.register_forward_hook(lambda m, i, o: calls.append(o.shape[1]))
    assert blocks[0].se.fc1.out_channels == 16  # layer1's first bottleneck: 256 -> 16 -> 256
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert calls == [b.conv3.out_channels for b in blocks]  # every SE block runs in forward
    plain = create_backbone("resnet50")
    assert not any(isinstance(getattr(m, "se", None), torch.nn.Module) and not isinstance(m.se, torch.nn.Identity)
                   for m in plain.modules())  # fmt: skip


# --- local weights ---------------------------------------------------------------------------


def _save(state: dict, path) -> None:
    if str(path).endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, str(path))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
@pytest.mark.parametrize("name", ["resnet18", "tiny"])
def test_local_weights_round_trip(tmp_path, name, suffix):
    source = create_backbone(name)
    with torch.no_grad():
        for p in source.parameters():
            p.uniform_(-1, 1)  # distinct from any fresh initialisation
    path = tmp_path / f"{name}{suffix}"
    _save(source.state_dict(), path)
    loaded = create_backbone(name, weights=str(path))
    expected = source.state_dict()
    assert loaded.state_dict().keys() == expected.keys()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_timm_classification_checkpoint_loads_and_drops_the_head(tmp_path):
    import timm

    classifier = timm.create_model("resnet18")  # the layout of timm's model.safetensors
    path = tmp_path / "resnet18_in1k.safetensors"
    _save(classifier.state_dict(), path)
    loaded = create_backbone("resnet18", weights=path).state_dict()
    for key, value in classifier.state_dict().items():
        if key.startswith("fc."):
            assert f"model.{key}" not in loaded
        else:
            assert torch.equal(loaded[f"model.{key}"], value), key


def test_local_weights_adapt_the_stem(tmp_path):
    source = create_backbone("resnet18")
    path = tmp_path / "resnet18.pth"
    _save(source.state_dict(), path)
    rgb = source.state_dict()["model.conv1.weight"]
    gray = create_backbone("resnet18", in_chans=1, weights=path).state_dict()["model.conv1.weight"]
    torch.testing.assert_close(gray, rgb.sum(dim=1, keepdim=True))
    four = create_backbone("resnet18", in_chans=4, weights=path).state_dict()["model.conv1.weight"]
    torch.testing.assert_close(four[:, :3], rgb * 3 / 4)
    torch.testing.assert_close(four[:, 3], rgb[:, 0] * 3 / 4)


def test_vgg_loads_torchvision_vgg16_state_dict(tmp_path):
    import torchvision

    state = torchvision.models.vgg16().state_dict()  # features.* + classifier.*
    path = tmp_path / "vgg16.pth"
    _save(state, path)
    model = create_backbone("vgg16_largefov", weights=path)
    own = model.state_dict()
    features = [k for k in state if k.startswith("features.")]
    assert len(features) == 26  # 13 convs x (weight, bias)
    for key in features:
        assert torch.equal(own[key], state[key]), key
    assert not any(k.startswith("classifier.") for k in own)
    assert own["fc6.weight"].shape == (1024, 512, 3, 3)  # random init, not from the file


def test_vgg_round_trip_includes_fc6_fc7(tmp_path):
    source = create_backbone("vgg16_largefov")
    path = tmp_path / "largefov.safetensors"
    _save(source.state_dict(), path)
    loaded = create_backbone("vgg16_largefov", weights=path).state_dict()
    for key in ("features.0.weight", "features.28.bias", "fc6.weight", "fc7.weight"):
        assert torch.equal(loaded[key], source.state_dict()[key]), key


@pytest.mark.parametrize("name", ["resnet18", "vgg16_largefov", "tiny"])
def test_missing_weights_file(tmp_path, name):
    path = tmp_path / "nowhere" / "weights.safetensors"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        create_backbone(name, weights=str(path))


def test_wrong_keys_are_listed(tmp_path):
    path = tmp_path / "resnet18.safetensors"
    _save(create_backbone("resnet18").state_dict(), path)
    with pytest.raises(BackboneWeightsError, match=r"missing keys: .*layer1\.2\.") as err:
        create_backbone("resnet34", weights=path)
    assert "resnet34" in str(err.value) and str(path) in str(err.value)

    state = create_backbone("tiny").state_dict()
    state["stages.9.weight"] = torch.zeros(1)  # under a known root: not a classifier key
    state["stem.0.weight"] = torch.zeros(8, 3, 5, 5)
    bad = tmp_path / "tiny.pth"
    _save(state, bad)
    with pytest.raises(BackboneWeightsError, match=r"unexpected keys: stages\.9\.weight") as err:
        create_backbone("tiny", weights=bad)
    assert "mis-shaped keys: stem.0.weight" in str(err.value)


def test_corrupt_weights_file(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(BackboneWeightsError, match="broken.safetensors"):
        create_backbone("tiny", weights=path)


def test_tiny_has_no_pretrained_weights():
    with pytest.raises(ValueError, match="tiny has no pretrained weights"):
        create_backbone("tiny", pretrained=True)


# --- offline ---------------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and empty download caches; fails after 60 s instead of hanging."""

    def refuse(*args, **kwargs):
        raise OSError("network access disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)  # DNS lookups could block too
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    try:  # huggingface_hub reads these at import time; it may already be imported
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    except ImportError:
        pass

    def timeout(signum, frame):
        raise TimeoutError("pretrained=True did not fail within 60 s with the network blocked")

    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield  # no alarm available (Windows, worker thread); the patches above still fail fast
        return
    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("name", ["resnet18", "hrnet_w18", "mobilenetv2_100", "vgg16_largefov"])
def test_pretrained_offline_says_how_to_pass_a_file(offline, name):
    with pytest.raises(BackboneWeightsError) as err:
        create_backbone(name, pretrained=True)
    message = str(err.value)
    assert "weights=" in message and name in message and ".safetensors" in message
    assert err.value.__cause__ is not None  # the underlying reason is chained ...
    assert type(err.value.__cause__).__name__ in message  # ... and named


@pytest.mark.parametrize("name", ["hrnet_w18", "tiny", "resnet18", "mobilenetv2_100", "vgg16_largefov"])
def test_odd_input_sizes(name):
    """Every level has ceil(size / stride) pixels, also for sizes that aren't multiples of 32
    (HRNet pads internally: its fuse layers only work on such multiples)."""
    model = create_backbone(name).eval()
    with torch.no_grad():
        feats = model(torch.randn(1, 3, 67, 71))
    for f, info in zip(feats, model.feature_info):
        assert f.shape[-2:] == (-(-67 // info.stride), -(-71 // info.stride)), (name, info)


def test_hrnet_padding_does_not_change_aligned_inputs():
    model = create_backbone("hrnet_w18").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        padded = model(x)
        model.size_divisor = None
        plain = model(x)
    for a, b in zip(padded, plain):
        assert torch.equal(a, b)
