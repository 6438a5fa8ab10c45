"""Data-parallel training (progan.distributed): 2 gloo processes on the CPU against a single process.

The equality test relies on the documented sharding: rank r takes the strided positions r, r+W, ...
of the global batch, so with batch 8, minibatch-stddev group 2 and W = 2 (group·W divides the
batch) every stddev group is the one a single process forms; every per-sample random number is
drawn for the global batch.  The two runs then differ only by fp32 summation order (gradients are
summed over two shards instead of one batch), so weights are compared to a tolerance.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from core_helpers import make_trainer, tiny_config
from progan import checkpoint
from progan.errors import ConfigError

DATA = np.random.default_rng(1).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
FIRST, SECOND = 5, 4  # steps before and after the checkpoint; 3 steps per phase: the first part ends inside the fade 4 -> 8


def config():
    return tiny_config(resolution=8, kimg=0.024, batch=8, tick_kimg=0.016, checkpoint_kimg=1.0, data={"mirror": True}, arch={"mbstd_group_size": 2})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, resume_from: str) -> None:
    """One rank: FIRST steps from scratch (saved), SECOND steps resumed from the single-process checkpoint, a stop request."""
    os.environ.update(PROGAN_DISABLE_PLUGINS="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    from progan import distributed

    distributed.init("cpu")  # as torchrun's env:// describes the group
    try:
        from progan.data import Pyramid
        from progan.distributed import DistributedTrainer
        from progan.plugins import PluginHost

        out_dir = Path(out)

        def trainer():
            return DistributedTrainer(config(), run_dir=out_dir / "run", host=PluginHost(entry_points=False), data=Pyramid(DATA))

        first = trainer()
        for _ in range(FIRST):
            first.step()
        first.save(out_dir / "first.safetensors")  # rank 0 writes; rank 1's save writes nothing

        second = trainer()  # resume a checkpoint written by a single process: W 1 -> 2
        second.load(resume_from)
        for _ in range(SECOND):
            second.step()
        second.save(out_dir / "second.safetensors")

        if rank == 1:  # a signal on one rank only: all ranks must stop after the same step
            second.request_stop(2)
        seen = []
        for _ in range(3):
            second.step()
            seen.append(second.stop_signal)
        (out_dir / f"stop-{rank}.json").write_text(json.dumps(seen))
    finally:
        distributed.shutdown()
    (out_dir / f"threads-{rank}.json").write_text(json.dumps(_thread_names()))


def _thread_names() -> list[str]:
    tasks = Path("/proc/self/task")
    return sorted((t / "comm").read_text().strip() for t in tasks.iterdir()) if tasks.is_dir() else []


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = make_trainer(DATA, root / "single", config=config())
        for _ in range(FIRST):
            single.step()
        first = single.save(root / "single-first.safetensors")
        for _ in range(SECOND):
            single.step()
        final = single.save(root / "single-final.safetensors")
    finally:
        torch.set_num_threads(threads)
    mp.spawn(_worker, args=(2, _free_port(), str(root), str(first)), nprocs=2, join=True)
    return {"root": root, "single_first": first, "single_final": final}


def assert_same_state(path_a: Path, path_b: Path) -> None:
    a, meta_a = checkpoint.read(path_a)
    b, meta_b = checkpoint.read(path_b)
    assert a.keys() == b.keys()
    assert json.loads(meta_a["state"])["images_shown"] == json.loads(meta_b["state"])["images_shown"]
    assert torch.equal(a["rng.trainer"], b["rng.trainer"])  # every rank's generator is the single process's
    for name in a:  # weights to fp32 tolerance
        if name.startswith(("G.", "D.", "G_ema.")):
            torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-4, msg=lambda m, n=name: f"{n}: {m}")
    for name in a:  # Adam's moments hold the last gradients (β1 = 0), which magnify the weights' rounding differences
        if name.startswith("opt.") and name.endswith(("exp_avg", "exp_avg_sq")):
            assert (a[name] - b[name]).norm() <= 0.02 * b[name].norm() + 1e-6, name
        elif name.startswith("opt."):
            assert torch.equal(a[name], b[name]), name  # step counts


def test_two_processes_match_one_process_with_the_same_global_batch(runs):
    assert_same_state(runs["root"] / "first.safetensors", runs["single_first"])


def test_a_single_process_checkpoint_resumes_on_two_processes(runs):
    assert_same_state(runs["root"] / "second.safetensors", runs["single_final"])


def test_a_two_process_checkpoint_resumes_in_one_process(runs, tmp_path):
    torch.set_num_threads(1)
    trainer = make_trainer(DATA, tmp_path, config=config())
    trainer.load(runs["root"] / "first.safetensors")
    for _ in range(SECOND):
        trainer.step()
    assert_same_state(trainer.save(tmp_path / "resumed.safetensors"), runs["single_final"])


def test_only_rank_0_writes_files(runs):
    written = sorted(p.name for p in runs["root"].glob("*.safetensors"))
    assert written == ["first.safetensors", "second.safetensors", "single-final.safetensors", "single-first.safetensors"]
    assert not (runs["root"] / "run").exists() or not any((runs["root"] / "run").rglob("*.png"))


def test_a_stop_request_on_one_rank_stops_every_rank_after_the_same_step(runs):
    seen = [json.loads((runs["root"] / f"stop-{rank}.json").read_text()) for rank in (0, 1)]
    stopped = [[signal is not None for signal in ranks] for ranks in seen]
    assert stopped[0] == stopped[1] == [False, True, True]  # agreed in the all-reduce, read one step later, on every rank
    assert seen[1][1] == 2  # the signalled rank keeps its signal; the others report SIGTERM


def test_a_batch_the_processes_do_not_divide_is_refused():
    from progan.distributed import check_world_size
    from progan.schedule import Schedule

    schedule = Schedule(tiny_config(resolution=8, batch=6).schedule, target_resolution=8)
    check_world_size(schedule, 2)
    check_world_size(schedule, 3)
    with pytest.raises(ConfigError, match=r"batch of stabilise 4 \(6\) is not divisible by the 4 processes"):
        check_world_size(schedule, 4)


def test_a_rank_draws_the_global_batch_and_keeps_its_shard():
    from progan.distributed import ShardContext
    from progan.losses import per_sample_uniform

    single = _context(None)
    full = per_sample_uniform(single, 8)
    for rank in (0, 1):
        ctx = _context(ShardContext, global_batch=8, shard=slice(rank, None, 2))
        assert torch.equal(per_sample_uniform(ctx, 4), full[rank::2])
        assert torch.equal(ctx.rng.get_state(), single.rng.get_state())  # the generators stay in step


def _context(cls, **shard):
    from progan.interfaces import StepContext

    rng = torch.Generator().manual_seed(3)
    return (cls or StepContext)(None, None, 8, 1.0, 8, 0, rng, **shard)


def test_shutdown_ends_the_process_groups_threads(runs):
    # A group still alive at exit lets gloo's threads race the interpreter's teardown (SIGABRT).
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs /proc to list threads")
    for rank in (0, 1):
        names = json.loads((runs["root"] / f"threads-{rank}.json").read_text())
        assert not [n for n in names if "gloo" in n or "tcpstore" in n], names
