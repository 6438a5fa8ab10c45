"""The growth schedule: phase table, linear alpha ramps, per-resolution batch and lr, purity of ``at``."""
from __future__ import annotations

import random

import pytest

from progan.errors import ConfigError
from progan.schedule import Schedule, ScheduleConfig

# stabilise 1 kimg, fade 2 kimg, 4 -> 16; batch 4 and a lower lr at 16.
SMALL = ScheduleConfig(
    stabilise_kimg=1,
    fade_kimg=2,
    batch_size=8,
    batch_by_resolution={16: 4, 512: 2},
    g_lr=1e-3,
    d_lr=2e-3,
    g_lr_by_resolution={16: 5e-4},
    d_lr_by_resolution={8: 1.5e-3},
)


def rows(schedule: Schedule) -> list[tuple]:
    return [(p.resolution, p.fading, p.start_img, p.end_img, p.batch_size, p.g_lr, p.d_lr) for p in schedule.phases]


def test_phase_table_of_a_small_config():
    schedule = Schedule(SMALL, target_resolution=16)
    assert rows(schedule) == [
        (4, False, 0, 1000, 8, 1e-3, 2e-3),
        (8, True, 1000, 3000, 8, 1e-3, 1.5e-3),  # a fade uses the NEW resolution's batch and lr
        (8, False, 3000, 4000, 8, 1e-3, 1.5e-3),
        (16, True, 4000, 6000, 4, 5e-4, 2e-3),
        (16, False, 6000, 7000, 4, 5e-4, 2e-3),  # total_kimg unset: one more stabilisation at the target
    ]
    assert [p.index for p in schedule.phases] == [0, 1, 2, 3, 4]
    assert schedule.total_img == 7000
    assert [p.name for p in schedule.phases] == ["stabilise 4", "fade-in 4→8", "stabilise 8", "fade-in 8→16", "stabilise 16"]
    assert [p.steps for p in schedule.phases] == [125, 250, 125, 500, 250]


def test_total_kimg_continues_the_last_stabilisation_at_the_target():
    schedule = Schedule(ScheduleConfig(**{**vars(SMALL), "total_kimg": 12.5}), target_resolution=16)
    assert rows(schedule)[:-1] == rows(Schedule(SMALL, target_resolution=16))[:-1]
    assert (schedule.phases[-1].resolution, schedule.phases[-1].start_img, schedule.phases[-1].end_img) == (16, 6000, 12500)
    assert not schedule.at(12499).done and schedule.at(12500).done


def test_total_kimg_shorter_than_the_growth_cuts_the_schedule():
    schedule = Schedule(ScheduleConfig(**{**vars(SMALL), "total_kimg": 2.5}), target_resolution=16)
    assert rows(schedule) == [(4, False, 0, 1000, 8, 1e-3, 2e-3), (8, True, 1000, 2500, 8, 1e-3, 1.5e-3)]
    assert schedule.at(2500).done


def test_alpha_ramps_linearly_during_fades_and_is_one_otherwise():
    schedule = Schedule(SMALL, target_resolution=16)
    for shown in range(1000, 3000, 37):
        state = schedule.at(shown)
        assert state.phase.fading and state.resolution == 8
        assert state.alpha == pytest.approx((shown - 1000) / 2000)
    assert schedule.at(1000).alpha == 0.0
    assert schedule.at(2000).alpha == 0.5
    assert schedule.at(5000).alpha == 0.5 and schedule.at(5000).resolution == 16
    for shown in (0, 999, 3000, 3999, 6000, 6999):
        assert schedule.at(shown).alpha == 1.0 and not schedule.at(shown).phase.fading


def test_state_at_boundaries_and_past_the_end():
    schedule = Schedule(SMALL, target_resolution=16)
    assert schedule.at(999).phase.index == 0 and schedule.at(1000).phase.index == 1
    assert schedule.at(6999).done is False
    end = schedule.at(7000)
    assert end.done and end.resolution == 16 and end.alpha == 1.0
    assert schedule.at(10**6).phase.index == 4  # overrun by the last batch stays in the last phase


def test_start_resolution_above_four_skips_the_lower_stages():
    schedule = Schedule(ScheduleConfig(**{**vars(SMALL), "start_resolution": 8}), target_resolution=16)
    assert [(p.resolution, p.fading) for p in schedule.phases] == [(8, False), (16, True), (16, False)]
    assert schedule.phases[0].start_img == 0


def test_non_progressive_schedule_is_one_phase_at_the_target():
    schedule = Schedule(SMALL, target_resolution=16, progressive=False)
    assert rows(schedule) == [(16, False, 0, 1000, 4, 5e-4, 2e-3)]
    longer = Schedule(ScheduleConfig(**{**vars(SMALL), "total_kimg": 5}), target_resolution=16, progressive=False)
    assert rows(longer) == [(16, False, 0, 5000, 4, 5e-4, 2e-3)]
    assert all(longer.at(n).alpha == 1.0 for n in (0, 2500, 4999))


def test_at_is_a_pure_function_of_images_shown():
    schedule = Schedule(SMALL, target_resolution=16)
    points = list(range(0, 8000, 97))
    forward = [schedule.at(n) for n in points]
    shuffled = points[:]
    random.Random(0).shuffle(shuffled)
    again = {n: schedule.at(n) for n in shuffled}  # any order of queries, no hidden cursor
    assert [again[n] for n in points] == forward
    assert [Schedule(SMALL, target_resolution=16).at(n) for n in points] == forward  # a fresh instance agrees


def test_table_rows_for_printing():
    table = Schedule(SMALL, target_resolution=16).table()
    assert [r["alpha"] for r in table] == ["1", "0→1", "1", "0→1", "1"]
    assert table[3] == {
        "phase": 3, "name": "fade-in 8→16", "resolution": 16, "start_kimg": 4.0, "end_kimg": 6.0,
        "alpha": "0→1", "batch": 4, "g_lr": 5e-4, "d_lr": 2e-3, "steps": 500,
    }


def test_paper_schedule_uses_16_14_6_3_and_800_kimg_phases():
    schedule = Schedule(ScheduleConfig(), target_resolution=1024)
    assert schedule.phases[0].end_img == 800_000
    batches = {p.resolution: p.batch_size for p in schedule.phases}
    assert batches == {4: 16, 8: 16, 16: 16, 32: 16, 64: 16, 128: 16, 256: 14, 512: 6, 1024: 3}
    assert len(schedule.phases) == 17  # 9 stabilisations + 8 fades
    assert all(p.g_lr == p.d_lr == 0.002 for p in schedule.phases)  # the default; --preset paper pins the paper's 0.001


@pytest.mark.parametrize("target", [3, 12, 2048, 2])
def test_target_must_be_a_power_of_two_in_range(target):
    with pytest.raises(ConfigError, match="power of two from 4 to 1024"):
        Schedule(SMALL, target_resolution=target)


def test_start_above_the_target_is_refused():
    with pytest.raises(ConfigError, match="above the target"):
        Schedule(ScheduleConfig(start_resolution=32), target_resolution=16)
