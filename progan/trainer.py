"""The trainer: a small class with ``step``, ``run`` and ``save``; progress is counted in real images shown."""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from progan import __version__, checkpoint, images, performance
from progan.config import OptimConfig, TrainConfig, to_dict
from progan.data import IndexStream, Pyramid, prepare
from progan.errors import CheckpointError, DataError, NonFiniteError, TrainingError
from progan.evaluation import MetricMonitor
from progan.interfaces import Generator, StepContext, latents
from progan.layers import downsample2x, upsample2x
from progan.model import ModelSpec, build
from progan.options import to_json
from progan.plugins import PluginHost, host as default_host
from progan.schedule import Phase, Schedule, State


def load_dataset(config: TrainConfig, host: PluginHost) -> Pyramid:
    """The real images of ``config.data`` as a pyramid at the target resolution."""
    source = config.data.source
    name, _, argument = source.partition(":")
    datasets = host.registries["datasets"]
    if name in datasets and (argument or ":" not in source):
        image_set = host.create("datasets", name, argument, resolution=config.resolution)
    elif Path(source).exists():
        from progan.data import read_path

        image_set = read_path(source, strict=config.data.strict)
    elif ":" in source and name not in datasets:
        host.get("datasets", name)  # raises: unknown name, with the closest match
        raise AssertionError("unreachable")
    else:
        raise DataError(f"{source}: no such file or folder, and no dataset of that name; available datasets: {', '.join(sorted(datasets))}")
    return prepare(image_set, resolution=config.resolution, channels=config.data.channels)


def with_resolved_options(config: TrainConfig, architecture, loss) -> TrainConfig:
    """``config`` with every option its architecture and loss resolved, defaults included.

    Checkpoints save this, so that a later change of a default never changes a resumed run.
    """
    return dataclasses.replace(config, arch=dataclasses.replace(config.arch, options=architecture.options()),
                               loss=dataclasses.replace(config.loss, options=loss.options()))


@dataclass
class Stop:
    """Why ``run`` returned."""

    reason: str  # "finished" or "interrupted"
    signal: int | None = None


class Trainer:
    """Trains G and D on a schedule; everything needed to continue bitwise goes into ``save``."""

    def __init__(self, config: TrainConfig, *, run_dir: str | Path, device: str | torch.device = "cpu", host: PluginHost | None = None, data: Pyramid | None = None) -> None:
        self.config, self.run_dir, self.device = config, Path(run_dir), torch.device(device)
        self.host = host or default_host(config.plugins)
        self.data = data if data is not None else load_dataset(config, self.host)
        channels = self.data.channels
        arch = self.host.get("architectures", config.arch.name)
        architecture = arch.factory(dict(config.arch.options))
        torch.manual_seed(config.seed)  # weight initialisation
        np.random.seed(config.seed % 2**32)  # the global numpy and python RNGs too (saved in checkpoints), so that
        random.seed(config.seed)  # a run is a pure function of its config even if a plugin draws from them
        G, D = architecture.build(resolution=config.resolution, channels=channels)
        self.spec = ModelSpec(config.arch.name, architecture.options(), config.resolution, channels, G.latent_size, arch.package)
        self.G, self.D = G.to(self.device), D.to(self.device)
        perf = config.performance
        if perf.retain_cpu_memory and self.device.type == "cpu":
            performance.retain_freed_memory()
        if perf.tf32 and self.device.type == "cuda":
            performance.set_tf32(True)
        self.channels_last = False  # the memory layout now; _set_layout picks it per phase
        self.G_ema: Generator = copy.deepcopy(self.G).eval().requires_grad_(False)
        # what the step calls: the modules, or compiled versions of them (checkpoints always use the modules)
        self.G_step, self.D_step = (performance.CompiledNet(self.G), performance.CompiledNet(self.D)) if perf.compile else (self.G, self.D)
        self._ema_refresh()
        self.loss = self.host.create("losses", config.loss.name, dict(config.loss.options))
        self.config = with_resolved_options(config, architecture, self.loss)
        self.callbacks = [self.host.create_callback(name, config.callback_options.get(name, {})) for name in config.callbacks]
        self.monitor = MetricMonitor(config, self.host)
        registries = self.host.registries  # the packages are saved so that a resume can name a missing one
        self.packages = {"architectures": {config.arch.name: arch.package}, "losses": {config.loss.name: registries["losses"][config.loss.name].package},
                         "callbacks": {name: registries["callbacks"][name].package for name in config.callbacks}}
        self.schedule = Schedule(config.schedule, target_resolution=config.resolution, progressive=architecture.progressive)
        self._set_layout(self.schedule.phases[0].resolution)
        self.rng = torch.Generator().manual_seed(config.seed)
        self.stream = IndexStream(len(self.data), seed=config.seed)
        if self.data_on_device():
            self.data.levels = {r: t.to(self.device) for r, t in self.data.levels.items()}
        self.grid_latents = latents(config.grid_size, G.latent_size, seed=config.seed).to(self.device)
        self.images_shown, self.elapsed_s, self.phase_index = 0, 0.0, -1
        self.stop_signal: int | None = None
        self._sums: dict[str, torch.Tensor] = {}
        self._steps_in_tick = 0
        self.lr_scale, self.rollbacks = 1.0, 0  # on_nan = "rollback" halves lr_scale at each rollback
        self.check_finite = True  # the per-step NaN/Inf check (see _check_finite)
        self._finite_params = [*self.G.parameters(), *self.D.parameters()]

    def data_on_device(self) -> bool:
        return self.device.type != "cpu" and sum(t.numel() for t in self.data.levels.values()) < 2**31

    # -- one step ------------------------------------------------------------------------------------
    def step(self) -> State:
        """One D step and one G step on the batch the schedule prescribes; returns the state it used."""
        state = self.schedule.at(self.images_shown)
        if state.phase.index != self.phase_index:
            self._enter_phase(state.phase)
        batch = state.phase.batch_size
        reals = self._reals(self.stream.take(self.images_shown, batch), state)
        ctx = self._step_context(state)
        amp = self.config.performance.amp

        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with performance.autocast(self.device, amp):
            d_loss, d_stats = self.loss.discriminator_loss(ctx, reals, self._latents(batch))
        d_loss.backward()
        self._clip(self.D)
        self.opt_D.step()

        self.D.requires_grad_(False)  # no D weight gradients in the G step
        self.opt_G.zero_grad(set_to_none=True)
        with performance.autocast(self.device, amp):
            g_loss, g_stats = self.loss.generator_loss(ctx, self._latents(batch))
        g_loss.backward()
        self._clip(self.G)
        self.opt_G.step()
        if self.check_finite:
            self._check_finite(d_loss, g_loss)

        self._update_ema()
        self.images_shown += batch
        self._steps_in_tick += 1
        for key, value in {**d_stats, **g_stats}.items():
            self._sums[key] = self._sums[key] + value if key in self._sums else value.clone()
        return state

    def _step_context(self, state: State) -> StepContext:
        """What the loss sees (a data-parallel rank adds its shard: progan.distributed)."""
        return StepContext(self.G_step, self.D_step, state.resolution, state.alpha, self.config.resolution, self.images_shown, self.rng)

    def _latents(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.G.latent_size, generator=self.rng).to(self.device)

    def _reals(self, indices: torch.Tensor, state: State) -> torch.Tensor:
        """The batch as float [B, C, r, r] in [-1, 1], mirrored and, during a fade, blended like G's output."""
        x = self.data.batch(indices.to(self.data.levels[state.resolution].device), state.resolution).to(self.device)
        x = x.float() / 127.5 - 1.0
        if self.config.data.mirror:
            flip = torch.rand(x.shape[0], generator=self.rng).to(self.device) < 0.5
            x = torch.where(flip.reshape(-1, 1, 1, 1), x.flip(3), x)
        if state.alpha < 1.0:
            x = torch.lerp(upsample2x(downsample2x(x)), x, state.alpha)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _wants_channels_last(self, resolution: int) -> bool:
        """``performance.channels_last``, or by default :func:`progan.performance.default_channels_last`."""
        choice = self.config.performance.channels_last
        if choice is not None:
            return choice
        return performance.default_channels_last(self.device, resolution, self.config.performance.amp)

    def _set_layout(self, resolution: int) -> None:
        """Give G, D, G_ema (and any optimizer state) the memory layout chosen for ``resolution``; values never change."""
        wanted = self._wants_channels_last(resolution)
        if wanted == self.channels_last:
            return
        layout = torch.channels_last if wanted else torch.contiguous_format
        for net in (self.G, self.D, self.G_ema):
            net.to(memory_format=layout)  # in place: the same Parameter objects, new strides
        self.channels_last = wanted
        for name in ("opt_G", "opt_D"):
            if hasattr(self, name):
                _match_state_layout(getattr(self, name))

    def _enter_phase(self, phase: Phase) -> None:
        self._set_layout(phase.resolution)
        fresh = self.config.optim.reset_each_phase or self.phase_index < 0
        if fresh:
            self.opt_G = self._optimizer(self.G, phase.g_lr)
            self.opt_D = self._optimizer(self.D, phase.d_lr)
        for opt, lr in ((self.opt_G, phase.g_lr * self.lr_scale), (self.opt_D, phase.d_lr * self.lr_scale)):
            for group in opt.param_groups:
                group["lr"] = lr
        self.phase_index = phase.index
        self._ema_refresh()

    def _optimizer(self, net: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        o = self.config.optim
        if o.name == "rmsprop":
            return torch.optim.RMSprop(net.parameters(), lr=lr, alpha=o.rmsprop_alpha, eps=o.eps, foreach=True)
        # fused: one kernel per step for all parameters instead of ~10 ops per parameter (at 4×4 the
        # per-parameter loop took longer than the convolutions); the same update, rounded differently
        fused = all(p.dtype in (torch.float32, torch.float64) and p.device.type in ("cpu", "cuda") for p in net.parameters())
        return torch.optim.Adam(net.parameters(), lr=lr, betas=tuple(o.betas), eps=o.eps, fused=fused or None, foreach=None if fused else True)

    def _clip(self, net: torch.nn.Module) -> None:
        if self.config.optim.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.grad is not None], self.config.optim.clip_grad_norm)

    # -- NaN / Inf -----------------------------------------------------------------------------------
    def _check_finite(self, d_loss: torch.Tensor, g_loss: torch.Tensor) -> None:
        """Raise NonFiniteError if either loss or any gradient of this step is NaN/Inf.

        One fused check: NaN and Inf propagate through the sum of both losses and all gradient
        norms (``torch._foreach_norm``), so a single ``isfinite`` and one host read decide.  On
        the CPU the read is free and the norms cost about 1 % of a 4×4 demo step
        (bench/nan_check_overhead.py).  On a GPU the read is one synchronisation per step: Python
        cannot queue the next step's kernels until this step's finish, which matters only where
        the step is launch-bound (small resolutions); set ``trainer.check_finite = False`` to
        trade the check away.  Weights are checked before every save.
        """
        grads = [p.grad for p in self._finite_params if p.grad is not None]
        total = d_loss.detach() + g_loss.detach()
        if grads:
            total = total + torch.stack(torch._foreach_norm(grads)).sum()
        if not bool(torch.isfinite(total)):
            terms = [("loss/D", d_loss.detach())]
            terms += [(f"gradient of D.{n}", p.grad) for n, p in self.D.named_parameters() if p.grad is not None]
            terms += [("loss/G", g_loss.detach())]
            terms += [(f"gradient of G.{n}", p.grad) for n, p in self.G.named_parameters() if p.grad is not None]
            self._raise_nonfinite(terms, "lower the learning rate (schedule.g_lr, schedule.d_lr) or train with --on-nan rollback")

    def _check_weights(self) -> None:
        """Raise NonFiniteError if any weight of G, D or G_ema is NaN/Inf (before a checkpoint is written)."""
        nets = (("G", self.G), ("D", self.D), ("G_ema", self.G_ema))
        params = [p for _, net in nets for p in net.parameters()]
        if params and not bool(torch.isfinite(torch.stack(torch._foreach_norm(params)).sum())):
            terms = [(f"weight {prefix}.{n}", p) for prefix, net in nets for n, p in net.named_parameters()]
            self._raise_nonfinite(terms, "no checkpoint was written; resume from the last one with a lower learning rate")

    def _raise_nonfinite(self, terms: list[tuple[str, torch.Tensor]], fix: str) -> None:
        for term, value in terms:
            bad = value.detach()[~torch.isfinite(value.detach())]
            if bad.numel():
                word = "nan" if bool(bad.isnan().any()) else ("inf" if float(bad[0]) > 0 else "-inf")
                raise NonFiniteError(f"{term} is {word} at {self.images_shown} images; {fix}", term=term, images_shown=self.images_shown)
        # every term finite but the sum overflowed: the gradients are astronomically large
        raise NonFiniteError(f"gradient norm is inf at {self.images_shown} images; {fix}", term="gradient norm", images_shown=self.images_shown)

    def _rollback(self, error: NonFiniteError) -> None:
        """``on_nan = "rollback"``: reload the last checkpoint and continue at half the learning rate (bounded)."""
        if self.config.on_nan != "rollback":
            raise error
        if self.rollbacks >= self.config.max_rollbacks:
            raise TrainingError(f"{error.term} is non-finite again at {error.images_shown} images after {self.rollbacks} rollback(s) (max_rollbacks); stopping") from error
        rollbacks, scale = self.rollbacks + 1, self.lr_scale * 0.5
        path = latest_checkpoint(self.run_dir)
        self.load(path)
        self.rollbacks, self.lr_scale = rollbacks, scale
        if self.phase_index >= 0:
            phase = self.schedule.phases[self.phase_index]
            for opt, lr in ((self.opt_G, phase.g_lr * scale), (self.opt_D, phase.d_lr * scale)):
                for group in opt.param_groups:
                    group["lr"] = lr
        self._sums, self._steps_in_tick = {}, 0
        truncate_log(self.run_dir, self.images_shown)
        record = {"event": "rollback", "images_shown": self.images_shown, "kimg": self.images_shown / 1000, "nonfinite_at": error.images_shown,
                  "term": error.term, "rollback": rollbacks, "lr_scale": scale, "checkpoint": path.name}
        with open(self.run_dir / "log.jsonl", "a") as log:
            log.write(json.dumps(record) + "\n")
        warnings.warn(f"{error}; rolled back to {path.name} ({self.images_shown} images) with learning rate x{scale:g} (rollback {rollbacks} of at most {self.config.max_rollbacks})", stacklevel=2)

    @property
    def ema_beta(self) -> float:
        """G_ema's per-step β in the current phase (:func:`ema_beta_for`)."""
        return ema_beta_for(self.config.optim, self.schedule.phases[self.phase_index])

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self._ema_idle:  # a parameter joins the average at its first gradient
            joined = [pair for pair in self._ema_idle if pair[1].grad is not None]
            if joined:
                self._ema_idle = [pair for pair in self._ema_idle if pair[1].grad is None]
                self._ema_pairs[0].extend(e for e, _ in joined)
                self._ema_pairs[1].extend(p for _, p in joined)
        torch._foreach_lerp_(*self._ema_pairs, 1.0 - self.ema_beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    @torch.no_grad()
    def _ema_refresh(self) -> None:
        """Split G's parameters into those the EMA must lerp and the idle ones, equal to their average.

        lerp(a, a, w) = a bitwise, so skipping a parameter that equals its average (the blocks the
        schedule has not reached yet: half of G at 4×4) changes nothing.  Parameters change only by
        optimiser steps, which need a gradient: an idle one joins at its first gradient, and the
        split is redone at every phase and after loading a checkpoint.
        """
        pairs = list(zip(self.G_ema.parameters(), self.G.parameters()))
        self._ema_idle = [(e, p) for e, p in pairs if torch.equal(e, p)]
        active = [(e, p) for e, p in pairs if not torch.equal(e, p)]
        self._ema_pairs = ([e for e, _ in active], [p for _, p in active])

    # -- the loop ------------------------------------------------------------------------------------
    def run(self, *, progress: Callable[["Trainer", State], None] | None = None) -> Stop:
        """Train until the schedule's total or until :meth:`request_stop`; checkpoints at the end either way."""
        with self.host.activated(self.callbacks):  # config.callbacks receive the hooks of this run only
            return self._run(progress)

    def _run(self, progress: Callable[["Trainer", State], None] | None) -> Stop:
        """The loop of :meth:`run`, with the lifecycle hooks."""
        self.host.hook.progan_train_start(trainer=self)
        c = self.config
        tick_img, ckpt_img = int(c.tick_kimg * 1000), int(c.checkpoint_kimg * 1000)
        last_time = time.perf_counter()
        tick_start_img = self.images_shown
        try:
            state = self.schedule.at(self.images_shown)
            if not state.done and self.images_shown == state.phase.start_img:
                self.host.hook.progan_stage_start(trainer=self, resolution=state.resolution, fading=state.phase.fading)
            if c.on_nan == "rollback" and not any(self.checkpoint_dir().glob("ckpt-*.safetensors")):
                self.save()  # something to roll back to
            while not self.schedule.at(self.images_shown).done and self.stop_signal is None:
                before = self.images_shown
                try:
                    state = self.step()
                except NonFiniteError as error:
                    self._rollback(error)  # re-raises unless on_nan = "rollback" and rollbacks remain
                    tick_start_img, last_time = self.images_shown, time.perf_counter()
                    continue
                after = self.schedule.at(self.images_shown)
                now = time.perf_counter()
                self.elapsed_s += now - last_time
                last_time = now
                if progress is not None:
                    progress(self, state)
                stage_ended = after.done or after.phase.index != state.phase.index
                if self.images_shown // tick_img > before // tick_img or stage_ended:
                    self._tick(state, tick_start_img)
                    tick_start_img = self.images_shown
                if stage_ended:
                    self._stage_end(state.phase)
                    if not after.done:
                        self.host.hook.progan_stage_start(trainer=self, resolution=after.resolution, fading=after.phase.fading)
                elif self.images_shown // ckpt_img > before // ckpt_img:
                    self.save()
                last_time = time.perf_counter()
            if self.stop_signal is not None:
                if self._steps_in_tick:
                    self._tick(self.schedule.at(self.images_shown - 1), tick_start_img)
                self.save()
                return Stop("interrupted", self.stop_signal)
            self.save_grid(self.run_dir / "final.png")
            return Stop("finished")
        finally:
            self.host.hook.progan_train_end(trainer=self)

    def request_stop(self, signal_number: int) -> None:
        """Finish the step in progress, checkpoint and return from :meth:`run` (signal handlers call this)."""
        self.stop_signal = signal_number

    def _tick(self, state: State, tick_start_img: int) -> None:
        stats = {key: (value / self._steps_in_tick).item() for key, value in self._sums.items()}
        self._sums, self._steps_in_tick = {}, 0
        seconds = max(self.elapsed_s - getattr(self, "_tick_elapsed", 0.0), 1e-9)
        self._tick_elapsed = self.elapsed_s
        record = {
            "kimg": self.images_shown / 1000,
            "images_shown": self.images_shown,
            "phase": state.phase.index,
            "stage": state.phase.name,
            "resolution": state.resolution,
            "alpha": round(state.alpha, 6),
            "batch": state.phase.batch_size,
            "g_lr": self.opt_G.param_groups[0]["lr"],
            "d_lr": self.opt_D.param_groups[0]["lr"],
            **{k: round(v, 6) for k, v in stats.items()},
            "img_per_s": round((self.images_shown - tick_start_img) / seconds, 2),
            "elapsed_s": round(self.elapsed_s, 3),
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.monitor.due(tick_start_img, self.images_shown, self.schedule.at(self.images_shown).done):
            record.update(self._evaluate(state))
        with open(self.run_dir / "log.jsonl", "a") as log:
            log.write(json.dumps(record) + "\n")
        self.save_grid(self.run_dir / "grids" / f"tick-{self.images_shown:09d}.png", state)
        self.last_tick = record
        self.host.hook.progan_tick(trainer=self, stats=record)

    def _evaluate(self, state: State) -> dict[str, float]:
        """The metrics' figures for G_ema at the state's resolution and alpha; keeps best.safetensors at the target."""
        figures = self.monitor.evaluate(self.G_ema, self.data.nhwc(state.resolution), state.alpha)
        if state.resolution == self.config.resolution and state.alpha == 1.0 and self.monitor.improved(figures, self.images_shown):
            self.save(self.run_dir / "best.safetensors")
        return figures

    def _stage_end(self, phase: Phase) -> None:
        label = f"fade-{phase.resolution}" if phase.fading else f"stable-{phase.resolution}"
        self.save_grid(self.run_dir / "grids" / f"stage-{phase.index:02d}-{label}.png", self.schedule.at(phase.end_img - 1))
        self.save()
        self.host.hook.progan_stage_end(trainer=self, resolution=phase.resolution, fading=phase.fading)

    @torch.no_grad()
    def save_grid(self, path: Path, state: State | None = None) -> None:
        """A grid of G_ema's images from the fixed latents at the state's resolution and alpha."""
        state = state or self.schedule.at(max(self.images_shown - 1, 0))
        fakes = self.G_ema(self.grid_latents, state.resolution, state.alpha)
        images.save_png(path, images.grid(images.to_uint8(fakes), min_cell=64))

    # -- checkpoints ---------------------------------------------------------------------------------
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def checkpoint_path(self, path: str | Path | None = None) -> Path:
        """``path``, or the default name of a checkpoint at the current images shown."""
        return Path(path) if path else self.checkpoint_dir() / f"ckpt-{self.images_shown:09d}.safetensors"

    def save(self, path: str | Path | None = None) -> Path:
        """Write everything needed to continue bitwise, atomically; keep the last K checkpoints."""
        path = self.checkpoint_path(path)
        self._check_weights()  # never write a poisoned checkpoint
        tensors = {
            **checkpoint.module_tensors("G", self.G),
            **checkpoint.module_tensors("D", self.D),
            **checkpoint.module_tensors("G_ema", self.G_ema),
            **{f"loss.{k}": v for k, v in self.loss.state_tensors().items()},
            "rng.trainer": self.rng.get_state(),
        }
        groups = {}
        if self.phase_index >= 0:
            for name, opt in (("G", self.opt_G), ("D", self.opt_D)):
                opt_tensors, groups[name] = checkpoint.optimizer_tensors(f"opt.{name}", opt)
                tensors.update(opt_tensors)
        rng_tensors, rng_json = checkpoint.rng_state()
        tensors.update(rng_tensors)
        state = self.schedule.at(max(self.images_shown - 1, 0))
        train_state = {
            "images_shown": self.images_shown,
            "phase_index": self.phase_index,
            "elapsed_s": self.elapsed_s,
            "resolution": state.resolution,
            "alpha": state.alpha,
            "stage": state.phase.name,
            "optimizer_groups": groups,
            "rng": rng_json,
            "lr_scale": self.lr_scale,
            "rollbacks": self.rollbacks,
            "best_metric": self.monitor.best,
        }
        metadata = {
            "format": checkpoint.CHECKPOINT_FORMAT,
            "format_version": str(checkpoint.FORMAT_VERSION),
            "progan_version": __version__,
            "config": to_json(self.config),
            "model": self.spec.to_json(),
            "packages": json.dumps(self.packages, sort_keys=True),
            "state": json.dumps(train_state, sort_keys=True),
        }
        checkpoint.save(path, tensors, metadata)
        self._prune()
        self.host.hook.progan_checkpoint(trainer=self, path=str(path))
        return path

    def _prune(self) -> None:
        kept = sorted(self.checkpoint_dir().glob("ckpt-*.safetensors"))
        for old in kept[: -self.config.keep_checkpoints]:
            old.unlink(missing_ok=True)

    def load(self, path: str | Path) -> None:
        """Continue from a checkpoint written by :meth:`save` for the same model."""
        tensors, metadata = checkpoint.read(path, formats=(checkpoint.CHECKPOINT_FORMAT,))
        spec = ModelSpec.from_metadata(metadata, str(path))
        if (spec.arch, spec.resolution, spec.channels) != (self.spec.arch, self.spec.resolution, self.spec.channels):
            raise CheckpointError(
                f"{path}: holds a {spec.arch} model at {spec.resolution}px with {spec.channels} channel(s), "
                f"but this run builds {self.spec.arch} at {self.spec.resolution}px with {self.spec.channels}; resume with the checkpoint's own config"
            )
        ours = json.loads(json.dumps(self.spec.arch_options, sort_keys=True))  # as JSON stores them (tuples -> lists)
        theirs = spec.arch_options if isinstance(spec.arch_options, dict) else {}
        changed = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])  # keys in both: a newer option's default is no change
        if changed:
            key = changed[0]
            raise CheckpointError(
                f"{path}: holds a {spec.arch} model with arch.{key} = {theirs[key]!r}, but this run builds arch.{key} = {ours[key]!r}; "
                f"resume with the checkpoint's own config (drop --set arch.{key})"
            )
        state = checkpoint.json_field(metadata, "state", path)
        for prefix, module in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            checkpoint.load_module(prefix, module, tensors, path)
        self._ema_refresh()
        self.loss.load_state_tensors({k[5:]: v for k, v in tensors.items() if k.startswith("loss.")})
        self.images_shown, self.elapsed_s = int(state["images_shown"]), float(state["elapsed_s"])
        self._tick_elapsed = self.elapsed_s
        self.phase_index = int(state["phase_index"])
        self.lr_scale, self.rollbacks = float(state.get("lr_scale", 1.0)), int(state.get("rollbacks", 0))
        self.monitor.best = state.get("best_metric")
        if self.phase_index >= 0:
            self.opt_G, self.opt_D = self._optimizer(self.G, 0.0), self._optimizer(self.D, 0.0)
            checkpoint.load_optimizer("opt.G", self.opt_G, tensors, state["optimizer_groups"]["G"])
            checkpoint.load_optimizer("opt.D", self.opt_D, tensors, state["optimizer_groups"]["D"])
            for opt in (self.opt_G, self.opt_D):
                _match_state_layout(opt)
        self._set_layout(self.schedule.phases[self.phase_index].resolution if self.phase_index >= 0 else self.schedule.at(self.images_shown).resolution)
        self.rng.set_state(tensors["rng.trainer"])
        checkpoint.set_rng_state(tensors, state["rng"])


def ema_beta_for(optim: OptimConfig, phase: Phase) -> float:
    """G_ema's per-step β in ``phase``: ``optim.ema_beta``, lowered so that its half-life is at most
    ``optim.ema_phase_fraction`` of the phase's images."""
    beta, fraction = optim.ema_beta, optim.ema_phase_fraction
    if beta == 0 or fraction == 0:
        return beta
    cap = fraction * (phase.end_img - phase.start_img)  # images
    half_life = phase.batch_size * math.log(0.5) / math.log(beta)  # images after which a weight counts half
    return beta if half_life <= cap else 0.5 ** (phase.batch_size / cap)


def _match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded optimizer state its parameter's memory layout (checkpoints store contiguous tensors).

    The fused Adam kernel pairs elements by memory position: a channels-last weight with a
    contiguous ``exp_avg`` would silently update with the wrong moments (torch 2.13, CPU).
    """
    for param, entries in optimizer.state.items():
        for key, value in entries.items():
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                entries[key] = torch.empty_like(param).copy_(value)


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The newest checkpoint of a run directory."""
    found = sorted((Path(run_dir) / "checkpoints").glob("ckpt-*.safetensors"))
    if not found:
        raise CheckpointError(f"{run_dir}: no checkpoints in {Path(run_dir) / 'checkpoints'}; nothing to resume")
    return found[-1]


def require_plugins(path: str | Path, host: PluginHost) -> None:
    """PluginError naming the package of each architecture, loss or callback of a checkpoint that is not registered."""
    metadata = checkpoint.read_metadata(path)
    spec = ModelSpec.from_metadata(metadata, str(path))
    packages = checkpoint.json_field(metadata, "packages", path) if "packages" in metadata else {}
    packages.setdefault("architectures", {spec.arch: spec.package})  # checkpoints from before "packages"
    for kind, names in packages.items():
        for name, package in names.items():
            host.require(kind, name, package, source=str(path))


# What a checkpoint trained with where it stored nothing: written before the option existed, or before
# its default changed and checkpoints saved every resolved option.  (table, the component it belongs
# to or None for a plain table, key, value)
EARLIER_DEFAULTS = (
    ("optim", None, "ema_phase_fraction", 0.0),  # before the EMA cap: the constant β
    ("arch", "progan", "mbstd_group_size", 4),  # before the whole-minibatch stddev
    ("loss", "wgan-gp", "gp_norm", "full-resolution"),  # before the native penalty norm
)


def config_of(path: str | Path) -> TrainConfig:
    """The training config stored in a checkpoint."""
    from progan.config import from_dict

    metadata = checkpoint.read_metadata(path)
    if metadata.get("format") != checkpoint.CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a progan training checkpoint (format is {metadata.get('format')!r}); --resume takes a run folder or its checkpoints/ckpt-*.safetensors")
    stored = checkpoint.json_field(metadata, "config", path)
    for table, component, key, value in EARLIER_DEFAULTS:
        section = stored.setdefault(table, {})
        if component is not None:  # an [arch] or [loss] table: its options, if it names that component
            section = section.get("options") if isinstance(section, dict) and section.get("name") == component else None
        if isinstance(section, dict):
            section.setdefault(key, value)
    return from_dict(stored)


def truncate_log(run_dir: str | Path, images_shown: int) -> None:
    """Keep the log lines up to ``images_shown`` (a resumed or rolled-back run redoes the later steps).

    Lines past it, and a last line cut short by a kill, are dropped so that the log holds no duplicates.
    """
    log = Path(run_dir) / "log.jsonl"
    if not log.is_file():
        return
    text = log.read_text(errors="replace")
    kept = []
    for line in text.splitlines(keepends=True):
        try:
            record = json.loads(line)
            position = int(record["images_shown"])
        except (ValueError, KeyError, TypeError):
            continue  # cut short by a kill, or not ours
        if position <= images_shown and line.endswith("\n"):
            kept.append(line)
    new = "".join(kept)
    if new != text:
        checkpoint.write_atomic(log, new.encode())


def tidy_for_resume(run_dir: str | Path, images_shown: int) -> None:
    """Before a resumed run continues: truncate its log and delete temporary files a killed write left."""
    run_dir = Path(run_dir)
    if run_dir.is_dir():
        for folder in (run_dir, *(d for d in run_dir.rglob("*") if d.is_dir())):  # checkpoints/, grids/, and any a plugin writes
            checkpoint.remove_stale_tmp(folder)
    truncate_log(run_dir, images_shown)
