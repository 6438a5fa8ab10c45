"""Multi-process data-parallel training: ``torchrun --nproc_per_node=N -m progan train ...``.

Every process (a *rank*) holds the whole model and trains on its shard of each global batch:

* **Batch.** The schedule's batch is the global batch; each of the W ranks takes B/W samples, the
  strided positions ``rank, rank + W, rank + 2W, ...`` of the global batch (a batch size not
  divisible by W at any phase is refused before training).
* **Same random stream everywhere.** Every rank draws the per-sample random numbers of the whole
  global batch (latents, mirror flips, the gradient penalty's interpolation weights) from the
  same seeded generator and keeps its own samples': all ranks' generators stay identical, and
  equal to a single process's, so a checkpoint holds one global state.
* **Gradients.** Each rank's losses are means over its shard; the gradients are summed over the
  ranks with one all-reduce per network and step and divided by W, which gives the gradient of the
  global-batch mean.  The gradient penalty is a per-sample term, so computing it on each shard is
  exact.
* **Minibatch stddev** groups samples within each rank's shard (the layer never sees the other
  ranks' samples).  Because ranks take strided positions, the groups are exactly those of a
  single process with the same global batch whenever ``group_size · W`` divides the global
  batch (e.g. batch 16, group 4, 2 or 4 ranks); otherwise they are different groups of the same
  size (or of the shard size, if the shard is smaller than the group).
* **Identical weights.** Every rank builds the networks from the same seed and rank 0's weights
  are broadcast once; after that the averaged gradients keep them identical.
* **Rank 0 only:** the EMA generator, checkpoints, the log, sample grids, metrics and callbacks.
  The logged losses are averaged over the ranks.  A stop signal on any rank is agreed on in the
  next step's gradient all-reduce, so all ranks stop after the same step.
* **Resume with another world size**: the checkpoint is global (weights, optimiser moments,
  images shown, generator states), so ``--resume`` works with any W that divides the batches.

Backends: gloo on the CPU, NCCL on CUDA (each rank uses ``cuda:LOCAL_RANK``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from progan.errors import ConfigError
from progan.interfaces import StepContext
from progan.schedule import Schedule, State
from progan.trainer import Trainer


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting WORLD_SIZE) with W > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_device(device: str) -> str:
    """The device of this rank: ``cuda:LOCAL_RANK`` for ``auto``/``cuda`` when CUDA is present, else as given."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = f"cuda:{local_rank}"
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    return device


def init(device: str) -> None:
    """Join the process group torchrun describes (env://): NCCL for CUDA, gloo for the CPU."""
    if not dist.is_initialized():
        # torch.distributed.nn binds the default group as default arguments when first imported, and
        # the first optimiser step imports it (through torch._dynamo).  Imported after the group is
        # made, it would keep the group alive past destroy_process_group, and gloo's worker threads
        # would then race the interpreter's exit (an occasional SIGABRT).  Imported first, it binds None.
        import torch.distributed.nn  # noqa: F401

        dist.init_process_group(backend="nccl" if torch.device(device).type == "cuda" else "gloo")


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a run folder name, say)."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_world_size(schedule: Schedule, world_size: int) -> None:
    """ConfigError unless every phase's global batch splits evenly over the ranks."""
    for phase in schedule.phases:
        if phase.batch_size % world_size:
            raise ConfigError(
                f"the batch of {phase.name} ({phase.batch_size}) is not divisible by the {world_size} processes; "
                f"each process trains on an equal shard of the global batch: choose a batch (schedule.batch_size, "
                f"schedule.batch_by_resolution) that {world_size} divides, or another --nproc_per_node"
            )


@dataclass(frozen=True)
class ShardContext(StepContext):
    """The step context of one rank: its ``shard`` of a ``global_batch``.

    Losses that draw per-sample random numbers draw ``global_batch`` of them and keep ``[shard]``
    (see :func:`progan.losses.per_sample_uniform`), so the generator stays that of a single process.
    """

    global_batch: int = 0
    shard: slice | None = None


class DistributedTrainer(Trainer):
    """A :class:`Trainer` for one rank of a data-parallel run (the process group must be initialised)."""

    def __init__(self, config, *, run_dir, device="cpu", host=None, data=None) -> None:
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        super().__init__(config, run_dir=run_dir, device=device, host=host, data=data)
        check_world_size(self.schedule, self.world_size)
        if config.on_nan == "rollback":
            raise ConfigError("'on_nan = \"rollback\"' is not supported with several processes yet; use on_nan = \"stop\" and --resume")
        self.shard = slice(self.rank, None, self.world_size)
        if self.rank != 0:
            self.callbacks = []  # callbacks, like every file the run writes, belong to rank 0
        with torch.no_grad():  # identical starting weights, whatever each rank's RNG did
            for tensor in [*self.G.state_dict().values(), *self.D.state_dict().values()]:
                dist.broadcast(tensor, src=0)
            for ema, live in zip(self.G_ema.state_dict().values(), self.G.state_dict().values()):
                ema.copy_(live)
        self._ema_refresh()
        self._stop_requested: int | None = None
        self._stop_flag: torch.Tensor | None = None

    # -- the shard -------------------------------------------------------------------------------
    def _step_context(self, state: State) -> StepContext:
        return ShardContext(self.G_step, self.D_step, state.resolution, state.alpha, self.config.resolution,
                            self.images_shown, self.rng, global_batch=state.phase.batch_size, shard=self.shard)

    def _reals(self, indices: torch.Tensor, state: State) -> torch.Tensor:
        # The global batch, then this rank's samples: the mirror flips are drawn for the global batch.
        # (Preparing all B images costs B/W times the shard's; data is well under 1% of a step.)
        x = super()._reals(indices, state)[self.shard]
        return x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    def _latents(self, n: int) -> torch.Tensor:
        return super()._latents(n)[self.shard]

    # -- gradients -------------------------------------------------------------------------------
    def _clip(self, net: torch.nn.Module) -> None:
        self._all_reduce_gradients(net, with_stop_flag=net is self.D)
        super()._clip(net)

    def _all_reduce_gradients(self, net: torch.nn.Module, *, with_stop_flag: bool) -> None:
        """Average the gradients over the ranks in one all-reduce (plus the ranks' stop requests)."""
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        parts = [g.reshape(-1) for g in grads]
        if with_stop_flag:
            flag = float(self._stop_requested is not None) * self.world_size  # survives the division below
            parts.append(torch.full((1,), flag, dtype=grads[0].dtype if grads else torch.float32, device=self.device))
        if not parts:
            return
        flat = torch.cat(parts)
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view(g.shape))
            offset += n
        if with_stop_flag:
            # Read the previous step's agreed flag, not this one's: on CUDA that value is long computed,
            # so the read does not wait for the step just queued (all ranks stop one step later, together).
            previous, self._stop_flag = self._stop_flag, flat[-1:]
            if previous is not None and previous.item() > 0 and self.stop_signal is None:
                self.stop_signal = self._stop_requested or 15  # SIGTERM if another rank was the one signalled

    def request_stop(self, signal_number: int) -> None:
        """Ask every rank to stop: agreed on in the next step, so that all stop after the same step."""
        self._stop_requested = signal_number

    # -- rank 0 only -----------------------------------------------------------------------------
    def _update_ema(self) -> None:
        if self.rank == 0:
            super()._update_ema()

    def _tick(self, state: State, tick_start_img: int) -> None:
        keys = sorted(self._sums)
        if keys:
            stacked = torch.stack([self._sums[k].to(self.device, torch.float32) for k in keys])
            dist.all_reduce(stacked)
            stacked /= self.world_size
            self._sums = dict(zip(keys, stacked.unbind()))
        if self.rank == 0:
            super()._tick(state, tick_start_img)
        else:
            self._sums, self._steps_in_tick = {}, 0
            self._tick_elapsed = self.elapsed_s

    def _stage_end(self, phase) -> None:
        if self.rank == 0:
            super()._stage_end(phase)

    def save_grid(self, path: Path, state: State | None = None) -> None:
        if self.rank == 0:
            super().save_grid(path, state)

    def save(self, path: str | Path | None = None) -> Path:
        if self.rank == 0:
            return super().save(path)
        return self.checkpoint_path(path)
