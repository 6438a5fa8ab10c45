"""Label targets, instance noise and experience replay on their own, and the replay state round trip."""
from __future__ import annotations

import pytest
import torch

from progan.interfaces import Loss, StepContext
from progan_classic.plugin import minimax
from progan_classic.tricks import InstanceNoise, ReplayBuffer, Target


def test_target_without_bounds_is_constant_and_draws_nothing() -> None:
    rng = torch.Generator().manual_seed(0)
    state = rng.get_state()
    assert torch.equal(Target(value=0.9)(torch.zeros(5), rng), torch.full((5,), 0.9))
    assert torch.equal(rng.get_state(), state)


def test_target_bounds_are_respected_and_covered() -> None:
    targets = Target(value=1.0, bounds=(0.7, 1.2))(torch.zeros(10_000), torch.Generator().manual_seed(0))
    assert targets.min() >= 0.7 and targets.max() <= 1.2
    assert targets.min() < 0.71 and targets.max() > 1.19  # uniform over the whole range, not a point
    assert targets.mean().item() == pytest.approx(0.95, abs=0.01)


def test_instance_noise_std_decays_linearly_to_zero() -> None:
    noise = InstanceNoise(std=0.1, kimg=2.0)
    assert [noise.std_at(n) for n in (0, 500, 1000, 1500)] == pytest.approx([0.1, 0.075, 0.05, 0.025])
    assert noise.std_at(2000) == 0.0 and noise.std_at(10_000) == 0.0


def test_instance_noise_has_the_scheduled_std(make_ctx) -> None:
    noise = InstanceNoise(std=0.2, kimg=1.0)
    images = torch.zeros(64, 3, 8, 8)
    assert (noise(images, make_ctx(images_shown=0)) - images).std().item() == pytest.approx(0.2, rel=0.05)
    assert (noise(images, make_ctx(images_shown=750)) - images).std().item() == pytest.approx(0.05, rel=0.05)
    ctx = make_ctx(images_shown=1000)
    state = ctx.rng.get_state()
    assert noise(images, ctx) is images and torch.equal(ctx.rng.get_state(), state)  # off: no noise, no draws


def batch(step: int, n: int = 8) -> torch.Tensor:
    """Fakes [n, 1, 2, 2] whose values say where they came from: 100·step + index."""
    return (100.0 * step + torch.arange(n, dtype=torch.float32))[:, None, None, None].expand(-1, 1, 2, 2).clone()


def test_replay_mixes_the_configured_fraction_of_old_fakes() -> None:
    buffer, rng = ReplayBuffer(size=20, fraction=0.5), torch.Generator().manual_seed(0)
    assert torch.equal(buffer.mix(batch(1), rng), batch(1))  # nothing stored yet: all new
    assert buffer.filled == 8
    for step in range(2, 6):
        old = set(buffer.images[: buffer.filled, 0, 0, 0].tolist())
        mixed = buffer.mix(batch(step), rng)[:, 0, 0, 0]
        assert set(mixed[:4].tolist()) <= old  # the first half replayed from the buffer
        assert torch.equal(mixed[4:], batch(step)[4:, 0, 0, 0])  # the rest new
    assert buffer.filled == 20
    assert {int(v) // 100 for v in buffer.images[:, 0, 0, 0].tolist()} >= {4, 5}  # full: new fakes overwrite old slots


@pytest.mark.parametrize("fraction, replayed", [(0.0, 0), (0.25, 2), (0.5, 4), (1.0, 8)])
def test_replay_fraction(fraction: float, replayed: int) -> None:
    buffer, rng = ReplayBuffer(size=16, fraction=fraction), torch.Generator().manual_seed(0)
    buffer.mix(batch(1), rng)
    mixed = buffer.mix(batch(2), rng)[:, 0, 0, 0]
    assert int((mixed < 200).sum()) == replayed


def test_replay_buffer_is_reset_by_a_new_image_size() -> None:
    buffer, rng = ReplayBuffer(size=8, fraction=0.5), torch.Generator().manual_seed(0)
    buffer.mix(batch(1), rng)
    larger = torch.zeros(4, 1, 4, 4)
    assert torch.equal(buffer.mix(larger, rng), larger) and buffer.filled == 4


def test_replay_state_round_trip_resumes_bitwise(make_ctx) -> None:
    """A loss restored from state_tensors (with the rng state) continues exactly as the original."""
    options = {"replay_size": 12, "replay_fraction": 0.5, "instance_noise": 0.1, "real_label_range": [0.7, 1.2]}
    data = torch.Generator().manual_seed(1)  # the batches, apart from the loss's own draws
    reals = torch.randn(6, 1, 2, 2, generator=data)

    def d_loss(loss, ctx, z: torch.Tensor) -> torch.Tensor:
        return loss.discriminator_loss(ctx, reals, z)[0]

    original, ctx = minimax(options), make_ctx()
    assert original.state_tensors() == {}
    for _ in range(3):
        d_loss(original, ctx, torch.randn(6, 4, generator=data))
    saved = original.state_tensors()
    assert set(saved) == {"replay/images", "replay/filled"} and int(saved["replay/filled"]) == 12

    def resumed(state: dict[str, torch.Tensor]) -> tuple[Loss, StepContext]:
        loss, resumed_ctx = minimax(options), make_ctx()
        loss.load_state_tensors(state)
        resumed_ctx.rng.set_state(ctx.rng.get_state())
        return loss, resumed_ctx

    z = torch.randn(6, 4, generator=data)
    assert not torch.equal(d_loss(*resumed({}), z), d_loss(*resumed(saved), z))  # the buffer matters
    restored, restored_ctx = resumed(saved)
    for _ in range(3):
        z = torch.randn(6, 4, generator=data)
        assert torch.equal(d_loss(restored, restored_ctx, z), d_loss(original, ctx, z))
    assert all(torch.equal(original.state_tensors()[k], restored.state_tensors()[k]) for k in saved)

    restored.load_state_tensors({})  # an empty state empties the buffer
    assert restored.state_tensors() == {} and restored.replay.filled == 0
