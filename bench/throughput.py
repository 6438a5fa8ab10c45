#!/usr/bin/env python
"""Training throughput of progan against pro-gan-pth 3.4, side by side, in one invocation.

For every resolution (and alpha) it runs, each in its own fresh process so that peak resident
memory (ru_maxrss) is comparable:

* ours: a :class:`progan.trainer.Trainer` on random in-memory uint8 images, ``images_shown`` set
  to land at the wanted alpha of a 4→64 schedule; the timed unit is one full ``Trainer.step()``
  (real batch from the uint8 pyramid, D step with WGAN-GP + drift, G step, EMA update);
* the peer: ``../shared/bench/bench_pro_gan_pth.py`` (D step with WGAN-GP + drift, EMA, G step)
  in the virtual environment ``../shared/bench/setup_peer_venv.sh`` makes (created if missing).

Same work on both sides: latent 512, 128 feature maps at every resolution, batch 16, fp32, the
paper's algorithm every step, the same thread count.  Both report the median step time after a
warm-up.  The machine's achievable throughput is measured in the same run with the peer script's
own reference (3×3 conv 128→128 @32×32, batch 16, forward + backward (dX, dW)), before and after
the training steps; "of conv peak" is a step's dispatched conv/matmul FLOPs (counted with
torch.utils.flop_counter, the peer's convention) per second over that peak.  Where a C compiler
is at hand, the cores' fp32 multiply-add peak (``bench/fma_peak.c``) is measured too, and "of FMA
peak" is the same FLOP rate over that.  The counted FLOPs include the taps on a conv's zero padding,
which oneDNN skips, so a small conv alone can pass 100% of it (``bench/conv_loop.py``).

The machine is shared: before each measurement the script waits (at most ``--idle-wait`` s) for
other processes to go quiet, records their CPU use during the measurement ("foreign cores"),
retries a disturbed measurement, and measures each cell in ``--rounds`` rounds in mirrored order
(ours, peer, peer, ours): the speed of these machines drifts by up to 30% within minutes, and a
drift then weighs on both sides alike.  A cell's figure is the mean step time over its rounds.

  .venv/bin/python bench/throughput.py                   # the full table (about 20-30 minutes)
  .venv/bin/python bench/throughput.py --resolutions 4 8 --steps 10 --json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peer_env import DEFAULT_SHARED, DEFAULT_VENV, ensure_peer_python


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def load_peer_module(shared: Path):
    """The peer script as a module: its conv reference and CPU-contention monitor are reused."""
    path = shared / "bench" / "bench_pro_gan_pth.py"
    spec = importlib.util.spec_from_file_location("bench_pro_gan_pth", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------- #
# ours, in a child process                                                                        #
# --------------------------------------------------------------------------------------------- #
class _NoModuleTracker:  # as the peer script: FlopCounterMode's module tracker breaks autograd.grad on a leaf
    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return None


def _forward_macs(module, call) -> int:
    """Forward MACs of every equalized conv / dense layer while ``call()`` runs (analytic count)."""
    import torch

    from progan.layers import EqualizedConv2d, EqualizedLinear

    total = [0]

    def hook(mod, inputs, output):
        if isinstance(mod, EqualizedConv2d):
            _, cin, k, _ = mod.weight.shape
            total[0] += output.numel() * cin * k * k
        else:
            total[0] += output.numel() * mod.weight.shape[1]

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (EqualizedConv2d, EqualizedLinear))]
    try:
        with torch.no_grad():
            call()
    finally:
        for h in handles:
            h.remove()
    return total[0]


# the benchmark's work, the peer's configuration: batch, latent size, feature maps at every resolution,
# the resolution the networks are built for, and how many random images our data set holds
WORK = dict(batch=16, latent=512, channels=128, full_res=64, pool_images=64)


def benchmark_trainer(args, res: int, alpha: float):
    """A :class:`Trainer` with the benchmark's networks on random uint8 images, at ``res`` and ``alpha`` of a 4→full-res schedule."""
    import numpy as np

    from progan.config import from_dict
    from progan.data import Pyramid
    from progan.plugins import PluginHost
    from progan.trainer import Trainer

    config = from_dict({
        "resolution": args.full_res,
        "seed": 0,
        "arch": {"name": "progan", "latent_size": args.latent, "fmap_base": args.channels * 2 ** 8, "fmap_max": args.channels,
                 "mbstd_group_size": 4},  # the peer's groups (the cost is the same at any size)
        "loss": {"name": "wgan-gp"},
        "schedule": {"batch_size": args.batch, "stabilise_kimg": 800.0, "fade_kimg": 800.0},
        "tick_kimg": 4.0,
        "checkpoint_kimg": 1e9,
        "grid_size": 36,
        **({"performance": json.loads(args.performance)} if args.performance else {}),
    })
    rng = np.random.default_rng(7)
    data = Pyramid(rng.integers(0, 256, (args.pool_images, args.full_res, args.full_res, 3), dtype=np.uint8))
    run_dir = Path(tempfile.mkdtemp(prefix="progan-throughput-"))
    trainer = Trainer(config, run_dir=run_dir, host=PluginHost(entry_points=False), data=data)
    fading = alpha < 1.0
    phase = next(p for p in trainer.schedule.phases if p.resolution == res and p.fading == fading)
    trainer.images_shown = phase.start_img + (round((phase.end_img - phase.start_img) * alpha) if fading else 0)
    state = trainer.schedule.at(trainer.images_shown)
    assert state.resolution == res and abs(state.alpha - alpha) < 1e-3, (state, alpha)
    return trainer, state


def child_ours(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    peer = load_peer_module(Path(args.shared))
    trainer, state = benchmark_trainer(args, args.res, args.alpha)
    config, run_dir, start = trainer.config, trainer.run_dir, trainer.images_shown
    chans = sorted({m.weight.shape[0] for m in trainer.G.modules() if hasattr(m, "weight") and m.weight.dim() == 4 and m.weight.shape[0] != 3}
                   | {m.weight.shape[0] for m in trainer.D.modules() if hasattr(m, "weight") and m.weight.dim() == 4})

    reals_time = [0.0]
    reals = trainer._reals

    def timed_reals(*a, **k):
        t0 = time.perf_counter()
        out = reals(*a, **k)
        reals_time[0] += time.perf_counter() - t0
        return out

    trainer._reals = timed_reals
    steps, data_s = [], []
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            snap = peer.cpu_snapshot()
        a = peer.cpu_snapshot()
        reals_time[0] = 0.0
        t0 = time.perf_counter()
        trainer.step()
        t1 = time.perf_counter()
        if i >= args.warmup:
            steps.append(dict(total=t1 - t0, foreign=peer.cpu_delta(a, peer.cpu_snapshot())["foreign_cores"]))
            data_s.append(reals_time[0])
    cpu = peer.cpu_delta(snap, peer.cpu_snapshot())
    end_alpha = trainer.schedule.at(trainer.images_shown).alpha

    # sample grids and the tick's bookkeeping, against the training time of one tick
    grid_s = []
    for _ in range(3):
        t0 = time.perf_counter()
        trainer.save_grid(run_dir / "grid.png", state)
        grid_s.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    trainer._tick(state, start)
    tick_s = time.perf_counter() - t0

    # FLOPs: analytic (forward MACs of G and D, 4G + 15D as the peer) and dispatched (FlopCounterMode)
    z = torch.randn(args.batch, args.latent)
    g_macs = _forward_macs(trainer.G, lambda: trainer.G(z, args.res, state.alpha))
    x = torch.randn(args.batch, 3, args.res, args.res)
    d_macs = _forward_macs(trainer.D, lambda: trainer.D(x, state.alpha))
    G, D = 2 * g_macs, 2 * d_macs
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModuleTracker()
    with counter:
        trainer.step()
    counted = counter.get_total_flops()
    by_op = {str(op): n / 1e9 for op, n in sorted(counter.get_flop_counts().get("Global", {}).items(), key=lambda kv: str(kv[0]))}

    tot = [s["total"] for s in steps]
    med = statistics.median(tot)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return dict(
        impl="progan", res=args.res, alpha=args.alpha, end_alpha=end_alpha, batch=args.batch, threads=torch.get_num_threads(),
        channels_present=chans, warmup=args.warmup, steps=args.steps,
        ms_per_step_median=med * 1e3, ms_per_step_mean=statistics.mean(tot) * 1e3, ms_per_step_min=min(tot) * 1e3,
        img_per_s=args.batch / med, step_ms=[round(t * 1e3, 2) for t in tot],
        step_foreign_cores=[round(s["foreign"], 2) for s in steps],
        data_ms_median=statistics.median(data_s) * 1e3, data_fraction=sum(data_s) / sum(tot),
        grid_ms=statistics.median(grid_s) * 1e3, tick_ms=tick_s * 1e3,
        tick_train_s=config.tick_kimg * 1000 / (args.batch / med),
        g_fwd_gflop=G / 1e9, d_fwd_gflop=D / 1e9, analytic_gflop_per_step=(4 * G + 15 * D) / 1e9,
        counted_gflop_per_step=counted / 1e9, counted_gflop_by_op=by_op,
        achieved_gflops_counted=counted / med / 1e9, achieved_gflops_analytic=(4 * G + 15 * D) / med / 1e9,
        maxrss_mib=usage.ru_maxrss / 1024, **cpu,
    )


# --------------------------------------------------------------------------------------------- #
# the orchestrator                                                                               #
# --------------------------------------------------------------------------------------------- #
def run_child(cmd: list[str], out_path: Path, env=None) -> tuple[int, float, str]:
    """Run ``cmd``; return (exit status, the child's own peak RSS in MiB, its stderr tail)."""
    with tempfile.TemporaryFile() as err, open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-3000:]
    return proc.returncode, usage.ru_maxrss / 1024, tail


def measure_ours(args, res, alpha, tmp: Path) -> dict:
    out = tmp / f"ours-{res}-{alpha}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "ours", "--res", str(res), "--alpha", str(alpha),
           "--batch", str(args.batch), "--latent", str(args.latent), "--channels", str(args.channels),
           "--full-res", str(args.full_res), "--warmup", str(args.warmup), "--steps", str(steps_for(args, res)),
           "--threads", str(args.threads), "--shared", str(args.shared), "--pool-images", str(args.pool_images)]
    if args.performance:
        cmd += ["--performance", args.performance]
    code, rss, tail = run_child(cmd, out)
    if code != 0:
        raise SystemExit(f"ours at {res}px alpha {alpha} failed ({code}):\n{tail}")
    row = json.loads(out.read_text().strip().splitlines()[-1])
    row["rss_mib"] = rss
    return row


def measure_peer(args, res, alpha, tmp: Path) -> dict:
    out = tmp / f"peer-{res}-{alpha}.jsonl"
    out.unlink(missing_ok=True)
    python = Path(args.peer_venv) / "bin" / "python"
    cmd = [str(python), str(Path(args.shared) / "bench" / "bench_pro_gan_pth.py"), "--resolutions", str(res), "--alphas", str(alpha),
           "--batch", str(args.batch), "--latent", str(args.latent), "--channels", str(args.channels), "--full-res", str(args.full_res),
           "--warmup", str(args.warmup), "--steps", str(steps_for(args, res)), "--threads", str(args.threads),
           "--skip-peak", "--idle-wait", "0", "--retries", "0", "--json-out", str(out)]
    code, rss, tail = run_child(cmd, tmp / "peer-stdout.txt")
    if code != 0:
        raise SystemExit(f"peer at {res}px alpha {alpha} failed ({code}):\n{tail}")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    row = next(r for r in rows if r.get("kind") == "step")
    row["rss_mib"] = rss
    return row


def steps_for(args, res: int) -> int:
    return args.steps if res < 32 else max(5, min(args.steps, args.steps_hires))


def measure_quietly(args, impl: str, res: int, alpha: float, tmp: Path, idle) -> dict:
    """One measurement of ``impl``, retried (up to ``--retries``) while other processes disturb it; the least disturbed."""
    attempts = []
    for _ in range(1 + args.retries):
        load_before = idle()
        t0 = time.perf_counter()
        r = measure_ours(args, res, alpha, tmp) if impl == "ours" else measure_peer(args, res, alpha, tmp)
        r["wall_s"], r["load_before"] = time.perf_counter() - t0, load_before
        r["img_per_s"] = args.batch / (r["ms_per_step_median"] / 1e3)
        attempts.append(r)
        log(f"#   {impl:4s} {res:3d}px alpha {alpha:.1f}: {r['img_per_s']:8.2f} img/s, foreign load {r['foreign_cores']:.2f} cores, "
            f"{r['rss_mib']:.0f} MiB, {r['wall_s']:.0f} s")
        if r["foreign_cores"] <= args.max_foreign:
            break
    best = min(attempts, key=lambda a: a["foreign_cores"])
    best["attempts"] = [dict(ms_per_step_median=a["ms_per_step_median"], foreign_cores=a["foreign_cores"]) for a in attempts]
    return best


def median_ms(call, calls: int, warmup: int = 5) -> float:
    """The median wall time of ``calls`` calls of ``call()`` in ms, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def fma_peak(threads: int, tmp: Path) -> float | None:
    """GFLOP/s of ``bench/fma_peak.c`` on ``threads`` threads, or None (with a line why) without a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    source, binary = Path(__file__).with_name("fma_peak.c"), tmp / "fma_peak"
    if compiler is None:
        log("#   FMA peak: no C compiler (cc, gcc, clang) on PATH; its columns are left out")
        return None
    if not binary.exists():
        built = subprocess.run([compiler, "-O2", "-march=native", "-pthread", str(source), "-o", str(binary)], capture_output=True, text=True)
        if built.returncode != 0:
            why = (built.stderr.strip().splitlines() or ["no message"])[-1]
            log(f"#   FMA peak: {compiler} could not build {source.name} ({why}); its columns are left out")
            return None
    gflops = json.loads(subprocess.run([str(binary), str(threads)], capture_output=True, text=True, check=True).stdout)["gflops"]
    log(f"#   FMA peak (fp32 multiply-adds in registers, {threads} threads): {gflops:.1f} GFLOP/s")
    return gflops


def combine(rounds: list[dict], batch: int) -> dict:
    """One implementation's rounds as one row: the last round's details, with the step time the mean over rounds."""
    row = dict(rounds[-1])
    row["ms_per_step_median"] = statistics.mean(r["ms_per_step_median"] for r in rounds)
    row["img_per_s"] = batch / (row["ms_per_step_median"] / 1e3)
    row["rss_mib"] = max(r["rss_mib"] for r in rounds)
    row["foreign_cores"] = max(r["foreign_cores"] for r in rounds)
    row["rounds"] = [dict(img_per_s=r["img_per_s"], ms_per_step_median=r["ms_per_step_median"], foreign_cores=r["foreign_cores"]) for r in rounds]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolutions", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    p.add_argument("--alphas", type=float, nargs="+", default=[0.5, 1.0], help="4×4 has no fade: it runs at 1.0 only")
    p.add_argument("--batch", type=int, default=WORK["batch"])
    p.add_argument("--latent", type=int, default=WORK["latent"])
    p.add_argument("--channels", type=int, default=WORK["channels"], help="feature maps at every resolution")
    p.add_argument("--full-res", type=int, default=WORK["full_res"], help="the networks are built for this target resolution")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="timed steps (median) per measurement")
    p.add_argument("--steps-hires", type=int, default=10, help="timed steps at 32×32 and above")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pool-images", type=int, default=WORK["pool_images"], help="random images in our in-memory data set (the peer holds 4 batches)")
    p.add_argument("--shared", default=str(DEFAULT_SHARED), help="the shared folder (peer scripts); default ../shared")
    p.add_argument("--peer-venv", default=str(DEFAULT_VENV), help="made with setup_peer_venv.sh if missing")
    p.add_argument("--no-peer", action="store_true", help="measure ours only")
    p.add_argument("--idle-wait", type=float, default=20.0, help="wait at most this many s for other processes to go quiet")
    p.add_argument("--max-foreign", type=float, default=0.3, help="retry a measurement disturbed by more foreign load (cores)")
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2, help="measurements per implementation and cell, in mirrored order (ABBA)")
    p.add_argument("--performance", default=None, help="JSON of [performance] config keys for ours, e.g. '{\"channels_last\": true}'")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of the table")
    p.add_argument("--json-out", default=None, help="also write that JSON document to this file")
    # internal: one measurement of ours
    p.add_argument("--child", choices=["ours"], help=argparse.SUPPRESS)
    p.add_argument("--res", type=int, help=argparse.SUPPRESS)
    p.add_argument("--alpha", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.shared = str(Path(args.shared).resolve())

    if args.child == "ours":
        print(json.dumps(child_ours(args)), flush=True)
        return

    import torch

    torch.set_num_threads(args.threads)
    peer = load_peer_module(Path(args.shared))
    if not args.no_peer:
        ensure_peer_python(Path(args.peer_venv), Path(args.shared))
    tmp = Path(tempfile.mkdtemp(prefix="throughput-"))
    env = dict(python=platform.python_version(), torch=torch.__version__, threads=args.threads, cpu=platform.processor() or platform.machine(),
               cores=os.cpu_count(), args=vars(args))
    log(f"# progan vs pro-gan-pth training throughput: batch {args.batch}, latent {args.latent}, {args.channels} channels, "
        f"networks for {args.full_res}px, {args.threads} threads, warm-up {args.warmup}, median of {args.steps} steps "
        f"({steps_for(args, 64)} at 32px and up)")

    def idle() -> float:
        waited, load = peer.wait_idle(args.idle_wait)
        return load

    def ref_conv():
        best = None
        for _ in range(1 + args.retries):
            idle()
            pk = peer.conv_peak(16, 128, 128, 32, iters=20)
            if best is None or pk["foreign_cores"] < best["foreign_cores"]:
                best = pk
            if pk["foreign_cores"] <= args.max_foreign:
                break
        log(f"#   conv3x3 128->128 @32x32 b16 fwd+bwd: {best['gflops_median']:.1f} GFLOP/s median "
            f"(foreign load {best['foreign_cores']:.2f} cores)")
        return best

    idle()
    fma_peaks = [fma_peak(args.threads, tmp)]
    peaks = [ref_conv()]
    rows = []
    order_flip = False
    for res in args.resolutions:
        for alpha in (args.alphas if res > 4 else [1.0]):
            if res == 4 and rows and rows[-1]["res"] == 4:
                continue
            # rounds in mirrored order (ours, peer | peer, ours | ...): a slow drift of the machine's
            # speed, which on these shared machines reaches 30% within minutes, then weighs on both sides alike
            pair = ["ours"] if args.no_peer else (["peer", "ours"] if order_flip else ["ours", "peer"])
            order_flip = not order_flip
            got: dict[str, list[dict]] = {impl: [] for impl in pair}
            for round_index in range(args.rounds):
                for impl in (pair if round_index % 2 == 0 else pair[::-1]):
                    got[impl].append(measure_quietly(args, impl, res, alpha, tmp, idle))
            rows.append(dict(res=res, alpha=alpha, **{impl: combine(rounds, args.batch) for impl, rounds in got.items()}))
    peaks.append(ref_conv())
    peak = max(pk["gflops_median"] for pk in peaks)
    if fma_peaks[0] is not None:
        idle()
        fma_peaks.append(fma_peak(args.threads, tmp))
    fma = max(fma_peaks) if fma_peaks[0] is not None else None

    def gflop_per_s(measured: dict) -> float:
        return measured["counted_gflop_per_step"] / (measured["ms_per_step_median"] / 1e3)

    table = []
    for row in rows:
        ours, peer_row = row["ours"], row.get("peer")
        entry = dict(
            res=row["res"], alpha=row["alpha"],
            ours_img_s=ours["img_per_s"], ours_ms=ours["ms_per_step_median"], ours_gflop=ours["counted_gflop_per_step"],
            ours_peak_frac=gflop_per_s(ours) / peak, ours_rss_mib=ours["rss_mib"], ours_foreign=ours["foreign_cores"],
            data_frac=ours["data_fraction"], grid_frac=ours["grid_ms"] / 1e3 / ours["tick_train_s"],
            tick_frac=ours["tick_ms"] / 1e3 / ours["tick_train_s"],
        )
        if fma:
            entry["ours_fma_frac"] = gflop_per_s(ours) / fma
        if peer_row:
            entry.update(
                peer_img_s=peer_row["img_per_s"], peer_ms=peer_row["ms_per_step_median"], peer_gflop=peer_row["counted_gflop_per_step"],
                peer_peak_frac=gflop_per_s(peer_row) / peak,
                peer_rss_mib=peer_row["rss_mib"], peer_foreign=peer_row["foreign_cores"],
                ratio=ours["img_per_s"] / peer_row["img_per_s"],
            )
            if fma:
                entry["peer_fma_frac"] = gflop_per_s(peer_row) / fma
        table.append(entry)

    doc = dict(kind="throughput", env=env, conv_peak_gflops=peak, conv_peaks=peaks, fma_peak_gflops=fma, fma_peaks=fma_peaks, table=table, raw=rows)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(doc, indent=1) + "\n")
    if args.json:
        print(json.dumps(doc))
        return
    print(f"conv peak (3x3 128->128 @32x32 b16 fwd+bwd, better median of start/end): {peak:.1f} GFLOP/s; "
          f"{args.threads} threads, batch {args.batch}, fp32")
    if fma:
        print(f"FMA peak (fp32 multiply-adds in registers, better of start/end): {fma:.1f} GFLOP/s; the conv peak is {peak / fma:.0%} of it")
    hdr = ["res", "alpha", "ours img/s", "peer img/s", "ratio", "ours %peak", "peer %peak", "ours GFLOP/step", "peer GFLOP/step",
           "ours RSS MiB", "peer RSS MiB", "data %", "grid %", "foreign (ours/peer)"] + (["ours %FMA", "peer %FMA"] if fma else [])
    print(" | ".join(hdr))
    nan = float("nan")
    for e in table:
        print(" | ".join([
            f"{e['res']:>3d}", f"{e['alpha']:.1f}", f"{e['ours_img_s']:8.2f}", f"{e.get('peer_img_s', nan):8.2f}", f"{e.get('ratio', nan):5.2f}x",
            f"{e['ours_peak_frac']:6.1%}", f"{e.get('peer_peak_frac', nan):6.1%}", f"{e['ours_gflop']:7.3f}", f"{e.get('peer_gflop', nan):7.3f}",
            f"{e['ours_rss_mib']:6.0f}", f"{e.get('peer_rss_mib', nan):6.0f}", f"{e['data_frac']:5.2%}", f"{e['grid_frac']:5.2%}",
            f"{e['ours_foreign']:.2f}/{e.get('peer_foreign', nan):.2f}",
        ] + ([f"{e['ours_fma_frac']:6.1%}", f"{e.get('peer_fma_frac', nan):6.1%}"] if fma else [])))


if __name__ == "__main__":
    main()
