"""Two CPU processes with Gloo: DDP keeps the replicas identical, metrics reduce to the single-process result,
rank 0 alone logs and writes."""

from __future__ import annotations

import json
import logging

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import segzoo
from segzoo.data import SyntheticSemantic
from segzoo.engine import Trainer, cleanup, eval_loader, evaluate, init_distributed
from segzoo.engine.logs import quiet_other_ranks


def _data():
    return SyntheticSemantic(8, size=(32, 32), seed=0), SyntheticSemantic(5, size=(32, 32), seed=1)


def _worker(rank: int, world_size: int, init_file: str, out_root: str, result_file: str) -> None:
    torch.set_num_threads(1)
    # as the CLI does: info lines to stderr (shared by both processes); the prefix says who logged
    logging.basicConfig(level=logging.INFO, format=f"rank{rank} %(levelname)s %(name)s: %(message)s", force=True)
    # each rank gets a folder of its own (under torchrun they share one) so the test sees who wrote what
    out_dir = f"{out_root}/rank{rank}"
    info = init_distributed(backend="gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    assert info.rank == rank and info.world_size == world_size
    try:
        train, val = _data()
        torch.manual_seed(100 + rank)  # different initial weights per rank: DDP must broadcast rank 0's
        model = segzoo.build("fcn_r50", backbone="tiny", num_classes=8)
        trainer = Trainer(model, train, val_data=val, out_dir=out_dir, max_iters=3, batch_size=2, sync_bn=True,
                          progress=False, checkpoint_every=0)  # fmt: skip
        result = trainer.fit()
        flat = torch.cat([t.detach().flatten().float() for t in model.state_dict().values()])
        gathered = [torch.empty_like(flat) for _ in range(world_size)]
        dist.all_gather(gathered, flat)
        if rank == 0:
            payload = {
                "identical": all(torch.equal(gathered[0], g) for g in gathered[1:]),
                "metrics": result.metrics,
                "sync_bn_modules": sum(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules()),
                "shard": len(trainer.sampler),
            }
            with open(result_file, "w") as f:
                json.dump(payload, f)
    finally:
        cleanup()


def test_two_gloo_processes_stay_identical_and_reduce_metrics(tmp_path, capfd):
    out_root, result_file = tmp_path / "run", tmp_path / "result.json"
    # fork: the children inherit the imported modules (seconds saved); they use one thread each
    mp.start_processes(_worker, args=(2, str(tmp_path / "store"), str(out_root), str(result_file)), nprocs=2,
                       join=True, start_method="fork")  # fmt: skip
    out_dir = out_root / "rank0"
    # one voice: the evaluation line once (rank 0's) in the two processes' combined output
    logged = capfd.readouterr().err
    evaluations = [line for line in logged.splitlines() if "Evaluation at iteration 3" in line]
    assert len(evaluations) == 1 and evaluations[0].startswith("rank0 INFO segzoo.engine.trainer"), logged
    # rank 1 still warns (sync_bn on CPU), and only warns
    rank1 = [line.split()[1] for line in logged.splitlines() if line.startswith("rank1 ")]
    assert rank1 and set(rank1) <= {"WARNING", "ERROR"}, logged
    # rank 0 alone wrote files: its folder has the checkpoint and the log, rank 1's was never created
    assert {p.name for p in out_dir.iterdir()} == {"last", "best", "metrics.jsonl"}
    assert not (out_root / "rank1").exists()
    result = json.loads(result_file.read_text())
    assert result["identical"]  # gradients are all-reduced; each rank saw another half of the data
    assert result["shard"] == 4  # 8 samples over 2 ranks
    assert result["sync_bn_modules"] == 0  # SyncBatchNorm needs GPUs: BatchNorm kept on CPU
    # rank 0 alone logged and checkpointed: one record per step, one final evaluation
    records = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 3] and records[-1]["type"] == "eval"
    # the reduced metrics (3 + 2 validation images on the two ranks) equal one process on all 5
    torch.set_num_threads(1)
    model = segzoo.load(out_dir / "last")
    _, val = _data()
    single = evaluate(model, eval_loader(val))
    assert single["mIoU"] == result["metrics"]["mIoU"] and single["aAcc"] == result["metrics"]["aAcc"]


def test_init_distributed_without_a_launcher_is_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_distributed()
    assert (info.rank, info.world_size, info.distributed) == (0, 1, False)
    assert not dist.is_initialized()


def test_quiet_other_ranks_raises_the_level_off_rank_0_only():
    logger = logging.getLogger("segzoo")
    saved = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        quiet_other_ranks(0)
        assert logger.level == logging.NOTSET
        quiet_other_ranks(1)
        assert logger.level == logging.WARNING
        logger.setLevel(logging.ERROR)  # quieter already: kept
        quiet_other_ranks(3)
        assert logger.level == logging.ERROR
    finally:
        logger.setLevel(saved)
