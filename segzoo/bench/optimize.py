"""``optimize``: prepare a model for fast inference and check it still gives the same labels.

The standard inference preparations of the PyTorch performance guides, done without
``torch.fx`` so they work on any model (detection heads with data-dependent control flow
included):

- eval mode, parameters without gradients, and the forward run under ``torch.inference_mode``;
- BatchNorm folded into the convolution before it (Ioffe & Szegedy, arXiv:1502.03167, is an
  affine map at inference; ``torch.nn.utils.fusion.fuse_conv_bn_eval`` merges it into the
  convolution's weight and bias). Pairs are found by walking the modules and watching one
  forward pass on the sample: a ``BatchNorm2d`` (timm's ``BatchNormAct2d`` and frozen
  BatchNorms included) is folded into a ``Conv2d`` when every output of that convolution goes
  only to that BatchNorm, and everything the BatchNorm normalises comes from that
  convolution. This covers ``nn.Sequential`` pairs (segzoo's and torchvision's
  ``ConvNormAct``), timm's ``ConvNormAct`` and the ``conv1 -> bn1`` attribute pairs of ResNet,
  MobileNet and HRNet blocks, and refuses pairs whose convolution output is also used
  elsewhere. A folded ``BatchNormAct2d`` leaves its activation in place;
- channels-last memory format for weights and inputs (oneDNN's and cuDNN's preferred layout);
- on a CPU in bf16, convolutions with dilation >= 8 (DeepLabV3's ASPP) computed as one 1x1 GEMM
  per tap over the input it reads plus shifted additions (:mod:`segzoo.bench.dilated`): oneDNN's bf16 kernels
  for large dilations are slower than fp32;
- autocast: bfloat16 on a CPU with native bf16 dot products (AVX512-BF16 or AMX-BF16 in
  ``/proc/cpuinfo``; elsewhere bf16 matmuls are emulated and slower than fp32), bfloat16 on
  CUDA where supported, else float16. Floating-point outputs are cast back to float32;
- optionally ``torch.compile`` (``nn.Module.compile``, so ``predict`` uses it too): on the CPU
  with inductor's weight freezing (constant folding and prepacked oneDNN weights, valid since
  the optimised model never trains), on CUDA in mode ``"max-autotune"`` (autotuned kernels and
  CUDA graphs).

The result verifies itself on a sample input against the unoptimised fp32 model
(:mod:`segzoo.bench.precision`): the share of pixels with the same argmax label, and the same
share among the *decisive* pixels (fp32 top-2 margin above the reduced precision's measured
error). An explicit ``dtype`` is always used; below ``min_agreement`` (99.5%) it warns. The
automatic choice (``dtype=None``) keeps bf16/fp16 only when the outputs are finite, at least half
of the pixels are decisive and ``min_agreement`` of those keep their label, else it uses float32
(a rule that holds for trained networks, whose margins are large, rather than for the near ties
of random weights). A float32 result below ``min_agreement`` raises (a fold went wrong). The
report is at ``model.segzoo_optimize`` (:class:`OptimizeReport`).

An optimised model's ``state_dict`` has no BatchNorm entries: save the model before
optimising it and optimise after loading.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from .batchnorm_fold import count_batchnorms, find_conv_bn_pairs, fold_batchnorm
from .dilated import rewrite_dilated_convs
from .fingerprint import cpu_supports_bf16
from .precision import PrecisionCheck, auto_accepts, compare_precision

__all__ = ["optimize", "OptimizeReport", "fold_batchnorm", "find_conv_bn_pairs", "resolve_dtype", "main_logits"]

DTYPES = {
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
}  # fmt: skip
MIN_AGREEMENT = 0.995


@dataclass
class OptimizeReport:
    """What :func:`optimize` did and how close the result is to the fp32 eager model.

    ``agreement``: share of sample pixels with the same argmax label as the unoptimised fp32
    model; ``decisive_agreement``/``decisive_share``/``error_bound``: the same among the pixels
    whose fp32 margin exceeds the precision's error (:mod:`segzoo.bench.precision`);
    ``max_abs_diff``: largest absolute difference of the compared logits; ``decision``: why
    ``dtype`` is what it is.
    """

    device: str
    dtype: str  # the autocast dtype in use ("float32": no autocast)
    requested_dtype: str
    channels_last: bool
    folded_bn: int
    remaining_bn: int
    compiled: bool
    agreement: float
    max_abs_diff: float
    sample_shape: tuple[int, ...]
    fell_back: bool  # the automatic choice rejected the reduced precision; float32 is used
    decisive_agreement: float = math.nan
    decisive_share: float = math.nan
    error_bound: float = math.nan
    decision: str = ""
    backend: str = "torch"  # "torch" or "onnxruntime"
    quantize: str | None = None  # "int8": ONNX Runtime static quantisation
    artifact: str | None = None  # the ONNX file the session runs
    rewritten_convs: int = 0  # dilated convs computed as tap GEMMs under CPU bf16 (segzoo.bench.dilated)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- dtype -----------------------------------------------------------------------------------


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device | str) -> torch.dtype:
    """``None``/``"auto"``: bf16 on a CPU with native bf16 (else fp32), bf16 or fp16 on CUDA.

    Strings: ``fp32``/``bf16``/``fp16`` (and the torch names).
    """
    device = torch.device(device)
    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_supports_bf16() else torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype}.")
        return dtype
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"Unknown dtype {dtype!r}; use 'auto', 'fp32', 'bf16' or 'fp16'.") from None


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


# ---- outputs ---------------------------------------------------------------------------------


def main_logits(output: Any) -> torch.Tensor:
    """The per-pixel class scores in a model output: a tensor itself, ``sem_logits`` of a panoptic
    raw output, ``logits`` of a named tuple, ``"logits"``/``"out"`` of a dict (torchvision)."""
    if isinstance(output, torch.Tensor):
        return output
    for attr in ("sem_logits", "logits"):
        if hasattr(output, attr) and isinstance(getattr(output, attr), torch.Tensor):
            return getattr(output, attr)
    if isinstance(output, dict):
        for key in ("logits", "out", "sem_seg"):
            if isinstance(output.get(key), torch.Tensor):
                return output[key]
    raise TypeError(
        f"Cannot find per-pixel logits in a {type(output).__name__} output; expected a tensor, a panoptic raw "
        "output (sem_logits), or a dict with 'logits' or 'out'."
    )


def _cast_floats(obj: Any, dtype: torch.dtype) -> Any:
    """``obj`` with every floating tensor inside (tuples, named tuples, lists, dicts) cast to ``dtype``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(dtype) if obj.is_floating_point() and obj.dtype != dtype else obj
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # NamedTuple
        return type(obj)(*(_cast_floats(v, dtype) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cast_floats(v, dtype) for v in obj)
    if isinstance(obj, dict):
        return {k: _cast_floats(v, dtype) for k, v in obj.items()}
    return obj


# ---- BatchNorm folding -----------------------------------------------------------------------


_FAST_CLASSES: dict[type, type] = {}


def _fast_forward(self, *args, **kwargs):
    """The wrapped model's forward under inference mode, channels-last inputs and autocast."""
    settings = self._segzoo_fast
    if settings["channels_last"]:
        args = tuple(
            a.contiguous(memory_format=torch.channels_last) if isinstance(a, torch.Tensor) and a.ndim == 4 else a
            for a in args
        )
    dtype = settings["dtype"]
    with torch.inference_mode():
        if dtype == torch.float32:
            return self._segzoo_base.forward(self, *args, **kwargs)
        with torch.autocast(settings["device_type"], dtype=dtype):
            out = self._segzoo_base.forward(self, *args, **kwargs)
        return _cast_floats(out, torch.float32)


def _fast_class(cls: type) -> type:
    """A subclass of ``cls`` whose forward is :func:`_fast_forward` (so ``isinstance`` and ``predict`` still work)."""
    if getattr(cls, "_segzoo_base", None) is not None:
        return cls
    if cls not in _FAST_CLASSES:
        _FAST_CLASSES[cls] = type(
            f"Optimized{cls.__name__}", (cls,), {"forward": _fast_forward, "_segzoo_base": cls, "__module__": cls.__module__}
        )
    return _FAST_CLASSES[cls]


def _default_sample(model: nn.Module, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(1, int(getattr(model, "in_chans", 3)), 256, 256, generator=g).to(device)


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")




def _optimize_onnxruntime(model, *, device, sample, quantize, calibration, min_agreement, workdir) -> nn.Module:
    from .onnxruntime_backend import optimize_onnxruntime

    if device.type != "cpu":
        raise ValueError(f"backend='onnxruntime' runs on the CPU; move the model there first (it is on {device}).")
    if sample is None:
        sample = _default_sample(model, device)
    with torch.inference_mode():
        reference = main_logits(model(sample)).float()
    model, info = optimize_onnxruntime(model, reference=reference, sample=sample, quantize=quantize,
                                       calibration=calibration, min_agreement=min_agreement, workdir=workdir)  # fmt: skip
    check = info["check"]
    model.segzoo_optimize = OptimizeReport(
        device=str(device), dtype="int8" if quantize else "float32", requested_dtype="int8" if quantize else "float32",
        channels_last=False, folded_bn=0, remaining_bn=count_batchnorms(model), compiled=False, agreement=check.agreement,
        max_abs_diff=check.max_abs_diff, sample_shape=tuple(sample.shape), fell_back=False,
        decisive_agreement=check.decisive_agreement, decisive_share=check.decisive_share, error_bound=check.error_bound,
        decision=info["decision"], backend="onnxruntime", quantize=quantize, artifact=info["path"],
    )  # fmt: skip
    return model


def optimize(
    model: nn.Module,
    *,
    dtype: str | torch.dtype | None = None,
    channels_last: bool = True,
    fuse_bn: bool = True,
    compile: bool = False,
    compile_mode: str | None = None,
    sample: torch.Tensor | None = None,
    min_agreement: float = MIN_AGREEMENT,
    inplace: bool = False,
    backend: str = "torch",
    quantize: str | None = None,
    calibration: Any = None,
    workdir: str | None = None,
) -> nn.Module:
    """A model prepared for inference, verified against the fp32 eager model on ``sample``.

    Args:
        model: a segzoo model (or any module whose output holds per-pixel logits, see
            :func:`main_logits`).
        dtype: autocast dtype: ``None``/``"auto"`` (bf16 on a CPU with AVX512-BF16/AMX, bf16 or
            fp16 on CUDA, kept when the sample check passes the automatic rule, else fp32), or
            ``"fp32"``, ``"bf16"``, ``"fp16"`` or a torch dtype (always used; a warning when its
            agreement is below ``min_agreement``).
        channels_last: weights and 4-D inputs in channels-last memory format.
        fuse_bn: fold BatchNorm into the preceding convolutions.
        compile: ``torch.compile`` the model (``nn.Module.compile``; the first call compiles).
        compile_mode: ``torch.compile``'s mode; default ``"max-autotune"`` on CUDA (CUDA graphs,
            autotuned kernels), elsewhere inductor's default mode with weight freezing.
        sample: the verification input (normalised ``(B, C, H, W)`` on the model's device);
            default one seeded ``N(0, 1)`` image of 256x256.
        min_agreement: the label agreement with the fp32 eager model an explicit dtype must
            reach not to warn, and the automatic choice must reach on the decisive pixels.
        inplace: modify ``model`` itself instead of a deep copy.
        backend: ``"torch"`` (the preparations above) or ``"onnxruntime"``: the model exported to
            ONNX and run by an ONNX Runtime session (:mod:`segzoo.bench.onnxruntime_backend`;
            panoptic models run their network part there and their ``postprocess`` in torch;
            ``dtype``, ``channels_last``, ``fuse_bn`` and ``compile`` do not apply).
        quantize: ``"int8"`` with ``backend="onnxruntime"``: static int8 quantisation (QDQ,
            per-channel weights) calibrated on ``calibration`` (normalised images).
        workdir: where the ONNX files go (default: a new temporary directory).

    Returns:
        The prepared model (same class, plus ``forward`` under inference mode and autocast; so do the
        learned modules its post-processing runs, named by ``model.postprocess_networks``, e.g. a
        panoptic model's OANet ranking module); ``model.segzoo_optimize`` holds the :class:`OptimizeReport`.
    """
    if backend not in ("torch", "onnxruntime"):
        raise ValueError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}.")
    if quantize is not None and backend != "onnxruntime":
        raise ValueError(f"quantize={quantize!r} needs backend='onnxruntime' (the torch path quantises nothing).")
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    model.requires_grad_(False)
    device = _model_device(model)
    if backend == "onnxruntime":
        return _optimize_onnxruntime(model, device=device, sample=sample, quantize=quantize, calibration=calibration,
                                     min_agreement=min_agreement, workdir=workdir)  # fmt: skip
    automatic = dtype is None or dtype == "auto"
    target_dtype = resolve_dtype(dtype, device)
    if target_dtype != torch.float32 and device.type == "cpu" and not cpu_supports_bf16():
        warnings.warn(
            f"This CPU has no native bf16/fp16 dot products (no AVX512-BF16/AMX); {_dtype_name(target_dtype)} autocast "
            "will likely be slower than float32.",
            stacklevel=2,
        )
    if sample is None:
        sample = _default_sample(model, device)

    pairs: list[tuple[str, str]] = []
    with torch.inference_mode():
        if fuse_bn:
            holder: list[Any] = []
            pairs = find_conv_bn_pairs(model, lambda: holder.append(model(sample)))
            reference = main_logits(holder[0]).float()
            del holder
        else:
            reference = main_logits(model(sample)).float()
    folded = fold_batchnorm(model, pairs)
    rewritten = rewrite_dilated_convs(model) if device.type == "cpu" and target_dtype == torch.bfloat16 else 0
    if channels_last:
        model.to(memory_format=torch.channels_last)

    base_cls = type(model)
    model.__class__ = _fast_class(base_cls)
    model._segzoo_fast = {"dtype": target_dtype, "channels_last": channels_last, "device_type": device.type}
    for name in getattr(model, "postprocess_networks", ()):  # e.g. OANet's ranking module, run by postprocess
        module = getattr(model, name, None)
        if isinstance(module, nn.Module):
            module.__class__ = _fast_class(type(module))
            module._segzoo_fast = model._segzoo_fast  # the same settings, also after a fall-back to float32
    if compile:
        if compile_mode is not None:
            model.compile(mode=compile_mode)
        elif device.type == "cuda":
            model.compile(mode="max-autotune")
        else:  # inference only: inductor may fold the weights in as constants
            model.compile(options={"freezing": True})

    def check() -> PrecisionCheck:
        return compare_precision(reference, main_logits(model(sample)))

    try:
        result = check()
    except Exception as err:  # noqa: BLE001 - inductor's freezing can't compile some graphs (views of parameters)
        if not (compile and compile_mode is None and device.type != "cuda"):
            raise
        warnings.warn(
            f"torch.compile with weight freezing failed ({type(err).__name__}); compiling without freezing.", stacklevel=2
        )
        model.compile()  # replaces nn.Module.compile's compiled forward
        result = check()
    fell_back = False
    name = _dtype_name(target_dtype)
    if target_dtype == torch.float32:
        decision = "float32 " + ("(automatic: no native reduced precision here)" if automatic else "(requested)")
    elif automatic and not auto_accepts(result, min_agreement=min_agreement):
        decision = (
            f"float32 (automatic: {name} left {100 * result.decisive_share:.1f}% of the sample's pixels decisive and "
            f"kept {100 * result.decisive_agreement:.2f}% of those; the rule needs 50% and {100 * min_agreement:.1f}%)"
        )
        model._segzoo_fast["dtype"] = torch.float32
        fell_back = True
        result = check()
    elif automatic:
        decision = f"{name} (automatic: {100 * result.decisive_agreement:.2f}% of the decisive pixels keep their label)"
    else:
        decision = f"{name} (requested)"
        if not result.agreement >= min_agreement:
            warnings.warn(
                f"{name} autocast gives {100 * result.agreement:.2f}% label agreement with float32 on the sample "
                f"(< {100 * min_agreement:.1f}%; {100 * result.decisive_agreement:.2f}% on the "
                f"{100 * result.decisive_share:.1f}% of pixels whose fp32 margin exceeds its error). It is used as "
                "requested; check it on your own images (sample=...) or pass dtype=None for the automatic choice.",
                stacklevel=2,
            )
    if model._segzoo_fast["dtype"] == torch.float32 and not result.agreement >= min_agreement:
        raise RuntimeError(
            f"The optimised float32 model agrees with the eager model on only {100 * result.agreement:.3f}% of the "
            f"sample pixels (max |diff| {result.max_abs_diff:.3g}); a BatchNorm fold went wrong. Use "
            "optimize(..., fuse_bn=False) and please report the model."
        )
    model.segzoo_optimize = OptimizeReport(
        device=str(device),
        dtype=_dtype_name(model._segzoo_fast["dtype"]),
        requested_dtype=_dtype_name(target_dtype),
        channels_last=channels_last,
        folded_bn=folded,
        remaining_bn=count_batchnorms(model),
        compiled=bool(compile),
        agreement=result.agreement,
        max_abs_diff=result.max_abs_diff,
        sample_shape=tuple(sample.shape),
        fell_back=fell_back,
        decisive_agreement=result.decisive_agreement,
        decisive_share=result.decisive_share,
        error_bound=result.error_bound,
        decision=decision,
        rewritten_convs=rewritten,
    )
    return model
