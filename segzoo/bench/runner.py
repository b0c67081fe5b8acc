"""The benchmark runner behind ``segzoo bench`` and ``benchmarks/run.py``.

For every selected recipe, input size and batch size it builds the model, counts its FLOPs
(``FlopCounterMode``, FLOPs not MACs), prepares it (the :func:`~segzoo.bench.optimize` fast
path, or eager with the requested precision and memory format), runs warm-up and timed
iterations, and reports one row: parameters, GFLOPs, forward latency mean/p50/p90,
throughput, post-processing time (argmax, panoptic fusion, and optionally TTA and dense
CRF, each timed on its own), peak memory, achieved GFLOP/s and its fraction of this
machine's GEMM peak in the same precision, and the argmax agreement with the fp32 eager
model. Timing follows the usual practice: ``time.perf_counter`` around each call on the
CPU; on CUDA, CUDA events with a synchronisation after each iteration.
"""

from __future__ import annotations

import gc
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from .defaults import DEFAULT_MODELS, parse_size
from .fingerprint import fingerprint, load_average
from .flops import count_flops
from .optimize import main_logits, optimize, resolve_dtype
from .timing import MemoryMeter, latency_stats, timed_call

__all__ = [
    "DEFAULT_MODELS",
    "COLUMNS",
    "BenchConfig",
    "BenchResult",
    "run_benchmark",
    "select_models",
    "parse_size",
]

# The representative set of the default run: one recipe per family, all at 512x512, batch 1.
# Every row has these keys (None where a value does not apply), in this order.
COLUMNS = (
    "model", "task", "height", "width", "batch", "device", "precision", "memory_format", "fast_path", "compiled",
    "threads", "params_m", "gflops", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_min_ms",
    "throughput_ips", "postprocess_ms", "postprocess", "tta_ms", "crf_ms", "total_ms", "peak_mem_mib", "mem_kind",
    "achieved_gflops_s", "gemm_peak_gflops_s", "peak_fraction", "peak_source", "agreement", "agreement_decisive",
    "compile_s", "folded_bn", "warmup", "iters",
    "load_avg_start", "load_avg_end", "error",
)  # fmt: skip


@dataclass
class BenchConfig:
    """What to benchmark and how; the fields are the options of ``segzoo bench``.

    ``precision``: ``auto`` (bf16 on CUDA or on a CPU with native bf16, else fp32), ``fp32``,
    ``bf16``, ``fp16`` (autocast). ``fast``: use :func:`segzoo.bench.optimize` (BatchNorm
    folding, channels-last, autocast, inference mode) instead of the eager model.
    ``overrides``: recipe options for every model (``--set backbone=tiny``).
    ``tta_scales``/``tta_flip``/``crf``: also time test-time augmentation / a dense CRF
    (5 mean-field iterations) as post-processing.
    """

    models: Sequence[str] = DEFAULT_MODELS
    sizes: Sequence[tuple[int, int]] = ((512, 512),)
    batch_sizes: Sequence[int] = (1,)
    device: str = "auto"
    precision: str = "auto"
    memory_format: str = "channels_last"
    fast: bool = True
    compile: bool = False
    warmup: int = 1
    iters: int = 3
    threads: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    num_classes: int | None = None
    tta_scales: Sequence[float] = ()
    tta_flip: bool = False
    crf: bool = False
    seed: int = 0
    gemm_size: int = 2048

    def __post_init__(self) -> None:
        if self.memory_format not in ("contiguous", "channels_last"):
            raise ValueError(f"memory_format must be 'contiguous' or 'channels_last', got {self.memory_format!r}.")
        if self.device not in ("auto", "cpu") and not str(self.device).startswith("cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}.")
        if self.warmup < 0 or self.iters < 1:
            raise ValueError(f"Need warmup >= 0 and iters >= 1, got {self.warmup} and {self.iters}.")
        if not self.sizes or not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise ValueError("Give at least one input size and positive batch sizes.")
        resolve_dtype(self.precision, "cpu")  # validates the name


@dataclass
class BenchResult:
    """Rows (dicts with the keys of ``COLUMNS``), the machine's fingerprint, the config, the command."""

    rows: list[dict[str, Any]]
    fingerprint: dict[str, Any]
    config: dict[str, Any]
    command: str
    gemm_peak_gflops_s: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- selection and parsing ---------------------------------------------------------------------


def select_models(patterns: Sequence[str]) -> list[str]:
    """Registry names matching the names or ``fnmatch`` wildcards, in the given order, without repeats.

    An exact unknown name raises with close matches; a wildcard matching nothing raises.
    """
    from ..factory import list_models, model_registry

    names: list[str] = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            found = list_models(pattern)
            if not found:
                raise ValueError(f"No model matches {pattern!r}; see `segzoo list`.")
        else:
            model_registry().get(pattern)  # raises KeyError with "did you mean"
            found = [pattern]
        names += [n for n in found if n not in names]
    return names


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use --device cpu or auto.")
    return device


# ---- one row ---------------------------------------------------------------------------------


def _build(name: str, config: BenchConfig) -> nn.Module:
    from ..factory import build

    overrides = dict(config.overrides)
    if config.num_classes is not None:
        overrides["num_classes"] = config.num_classes
    return build(name, **overrides)


def _check_overrides(names: Sequence[str], config: BenchConfig) -> None:
    from ..factory import model_registry
    from ..registry import check_overrides

    overrides = dict(config.overrides)
    if config.num_classes is not None:
        overrides["num_classes"] = config.num_classes
    for name in names:
        check_overrides(f"Model {name!r}", model_registry().get(name).fn, overrides)


def _bench_row(name: str, size: tuple[int, int], batch: int, config: BenchConfig, device: torch.device) -> dict[str, Any]:
    from ..factory import model_info

    dtype = resolve_dtype(config.precision, device)
    channels_last = config.memory_format == "channels_last"
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        model=name, task=model_info(name)["task"], height=size[0], width=size[1], batch=batch, device=str(device),
        precision=str(dtype).replace("torch.", ""), memory_format=config.memory_format, fast_path=config.fast,
        compiled=config.compile, threads=torch.get_num_threads(), warmup=config.warmup, iters=config.iters,
        load_avg_start=(load_average() or (None,))[0],
    )  # fmt: skip
    torch.manual_seed(config.seed)
    model = _build(name, config).to(device).eval()
    row["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    g = torch.Generator().manual_seed(config.seed)
    x = torch.randn(batch, model.in_chans, *size, generator=g).to(device)  # normalised images

    with torch.inference_mode():
        holder: list[Any] = []
        row["gflops"] = count_flops(lambda: holder.append(model(x))) / 1e9
        reference = main_logits(holder[0]).float()
        del holder

    if config.fast:
        requested = None if config.precision == "auto" else dtype  # explicit precisions are honoured
        model = optimize(model, dtype=requested, channels_last=channels_last, compile=config.compile, sample=x, inplace=True)
        report = model.segzoo_optimize
        row["folded_bn"] = report.folded_bn
        row["precision"] = report.dtype  # the automatic choice may keep fp32
        row["agreement_decisive"] = report.decisive_agreement
        dtype = getattr(torch, report.dtype)

        def forward() -> Any:
            return model(x)

    else:
        if channels_last:
            model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        if config.compile:
            model.compile()
        autocast = dtype != torch.float32

        def forward() -> Any:
            with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=autocast):
                return model(x)

    tta = None
    if config.tta_scales:
        from ..postprocess import TTA

        tta = TTA(model, scales=config.tta_scales, flip=config.tta_flip)

    times: list[float] = []
    post_times: list[float] = []
    tta_times: list[float] = []
    crf_times: list[float] = []

    def step(record: bool) -> Any:
        """One iteration: the forward, then each post-processing stage, each timed on its own."""
        ms, out = timed_call(forward, device)
        with torch.inference_mode():
            post_ms, _ = timed_call(lambda: model.postprocess(out, x), device)
            tta_ms = timed_call(lambda: tta(x), device)[0] if tta is not None else None
            crf_ms = None
            if config.crf:  # the CRF's share: post-processing with it minus without it
                crf_ms = max(0.0, timed_call(lambda: model.postprocess(out, x, crf=True), device)[0] - post_ms)
        if record:
            times.append(ms)
            post_times.append(post_ms)
            if tta_ms is not None:
                tta_times.append(tta_ms)
            if crf_ms is not None:
                crf_times.append(crf_ms)
        return out

    if config.compile:  # the first call compiles: timed on its own, outside warm-up and latency
        row["compile_s"] = timed_call(forward, device)[0] / 1000
    meter = MemoryMeter(device)
    with meter:
        for i in range(config.warmup + config.iters):
            out = step(record=i >= config.warmup)
    row.update(latency_stats(times))
    agreement_logits = main_logits(out).float()
    row["agreement"] = (
        (agreement_logits.argmax(1) == reference.argmax(1)).double().mean().item()
        if agreement_logits.shape == reference.shape
        else None
    )
    row["throughput_ips"] = batch * 1000 / row["latency_mean_ms"]
    row["postprocess_ms"] = statistics.fmean(post_times)
    row["postprocess"] = model.describe_postprocess()
    row["tta_ms"] = statistics.fmean(tta_times) if tta_times else None
    row["crf_ms"] = statistics.fmean(crf_times) if crf_times else None
    row["total_ms"] = row["latency_mean_ms"] + row["postprocess_ms"]
    row["peak_mem_mib"], row["mem_kind"] = meter.peak_mib, meter.kind
    row["achieved_gflops_s"] = row["gflops"] / (row["latency_mean_ms"] / 1000)
    row["load_avg_end"] = (load_average() or (None,))[0]
    return row


# ---- the run ---------------------------------------------------------------------------------


PEAK_REPEATS, PEAK_WARMUP = 10, 3


def _measure_peak(device: torch.device, dtype: torch.dtype, size: int) -> float:
    from .flops import measure_gemm_peak

    # uncached: a fresh measurement
    return measure_gemm_peak(str(device), dtype, size, PEAK_REPEATS, torch.get_num_threads(), warmup=PEAK_WARMUP)


def run_benchmark(config: BenchConfig, *, progress: bool = True, command: str = "") -> BenchResult:
    """Benchmark every (model, size, batch) of ``config``; a failing row records its error and the run goes on."""
    if config.threads:
        torch.set_num_threads(int(config.threads))
    device = _device(config.device)
    names = select_models(config.models)
    _check_overrides(names, config)  # a bad --set fails before any timing
    jobs = [(n, tuple(s), b) for n in names for s in config.sizes for b in config.batch_sizes]
    dtype = resolve_dtype(config.precision, device)
    dtypes = {dtype, torch.float32}  # a fall-back to fp32 needs the fp32 peak too
    peaks = {str(d).replace("torch.", ""): _measure_peak(device, d, config.gemm_size) for d in dtypes}
    rows = []
    from tqdm.auto import tqdm

    bar = tqdm(jobs, disable=not progress, unit="row", desc="segzoo bench")
    for name, size, batch in bar:
        bar.set_postfix_str(f"{name} {size[0]}x{size[1]} b{batch}")
        try:
            row = _bench_row(name, size, batch, config, device)
        except Exception as err:  # noqa: BLE001 - one failing recipe must not lose the others' rows
            row = dict.fromkeys(COLUMNS)
            row.update(model=name, height=size[0], width=size[1], batch=batch, device=str(device),
                       error=f"{type(err).__name__}: {err}")  # fmt: skip
        rows.append(row)
        gc.collect()
    # The peak is measured before and after the rows and the higher value kept: on a shared
    # machine a single measurement can land in a busy moment. A row that still exceeds it (a
    # compiled model's prepacked kernels can beat a plain matmul) becomes the peak of its
    # precision, and every row says where its peak came from.
    for d in dtypes:
        name = str(d).replace("torch.", "")
        peaks[name] = max(peaks[name], _measure_peak(device, d, config.gemm_size))
    sources = {name: f"matmul {config.gemm_size}^3, best of {PEAK_REPEATS} after {PEAK_WARMUP} warm-up" for name in peaks}
    for name in list(peaks):
        fastest = max((r for r in rows if r.get("precision") == name and r.get("achieved_gflops_s")),
                      key=lambda r: r["achieved_gflops_s"], default=None)  # fmt: skip
        if fastest is not None and fastest["achieved_gflops_s"] > peaks[name]:
            peaks[name] = fastest["achieved_gflops_s"]
            sources[name] = f"row {fastest['model']} {fastest['height']}x{fastest['width']} b{fastest['batch']} (above the matmul)"
    for row in rows:
        if row.get("achieved_gflops_s") is not None and row["precision"] in peaks:
            row["gemm_peak_gflops_s"] = peaks[row["precision"]]
            row["peak_fraction"] = row["achieved_gflops_s"] / peaks[row["precision"]]
            row["peak_source"] = sources[row["precision"]]
    return BenchResult(
        rows=rows,
        fingerprint=fingerprint(),
        config={k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        command=command,
        gemm_peak_gflops_s=peaks,
    )
