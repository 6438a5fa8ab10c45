"""tools/: growth_schedule.py, timelapse.py and plot_log.py on a tiny run folder the test trains."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tiny_run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # as `python tools/x.py` does for _common
import _common  # noqa: E402
import growth_schedule  # noqa: E402
import plot_log  # noqa: E402
import timelapse  # noqa: E402

FLAGS = ["--resolution", "32", "--stabilise-kimg", "20", "--fade-kimg", "20", "--batch", "16"]  # 4² -> 32², 140 kimg
TINY_FLAGS = ["--set", "arch.latent_size=16", "--set", "arch.fmap_base=32", "--set", "arch.fmap_max=16", "--batch", "4"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run.train(tmp_path_factory.mktemp("run"))


def one_line_error(capsys, tool: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"{tool}: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def schedule_rows(capsys, *argv: str) -> list[dict]:
    assert growth_schedule.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# -- growth_schedule.py ----------------------------------------------------------------------------
def test_the_table_has_every_phase(capsys):
    assert growth_schedule.main(FLAGS) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["phase", "stage", "res", "start"]
    assert [line.split()[1:3] for line in lines[1:8]] == [["stabilise", "4"], ["fade-in", "4→8"], ["stabilise", "8"], ["fade-in", "8→16"], ["stabilise", "16"], ["fade-in", "16→32"], ["stabilise", "32"]]
    assert lines[-1].startswith("total: 140 kimg, 8,750 steps")


def test_flags_and_config_files_resolve_as_progan_train_does(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('resolution = 8\n[schedule]\nbatch_size = 8\nbatch_by_resolution = {}\n')
    rows = schedule_rows(capsys, "--config", str(config), "--stabilise-kimg", "10", "--fade-kimg", "5", "--set", "schedule.g_lr=0.002")
    assert [(r["resolution"], r["start_kimg"], r["end_kimg"], r["alpha"], r["batch"], r["g_lr"], r["steps"]) for r in rows] == [
        (4, 0, 10, "1", 8, 0.002, 1250),
        (8, 10, 15, "0→1", 8, 0.002, 625),
        (8, 15, 25, "1", 8, 0.002, 1250),
    ]


def test_given_throughput_gives_times(capsys):
    rows = schedule_rows(capsys, *FLAGS, "--img-per-s", "4=1000,8=500,16=250,32=100")
    assert [r["img_per_s"] for r in rows] == [1000, 500, 500, 250, 250, 100, 100]
    assert rows[-1]["total_s"] == pytest.approx(20_000 * (1 / 1000 + 2 / 500 + 2 / 250 + 2 / 100))
    assert growth_schedule.main([*FLAGS, "--img-per-s", "200"]) == 0
    out = capsys.readouterr().out
    assert "img/s" in out.splitlines()[0] and out.splitlines()[-1] == "total: 140 kimg, 8,750 steps, about 11.7 min"


def test_a_budget_scales_the_phases_to_fit(capsys):
    rates = ["--img-per-s", "4=1000,8=500,16=250,32=100"]
    assert growth_schedule.main([*FLAGS, *rates, "--budget", "0.25"]) == 0
    proposal = capsys.readouterr().out.splitlines()[-1]
    assert proposal.startswith("fits 0.25 h: --stabilise-kimg ")
    flags = proposal.split(": ", 1)[1].split()
    rows = schedule_rows(capsys, *FLAGS, *rates, *flags)
    assert 0.99 * 900 <= rows[-1]["total_s"] <= 900


def test_measure_times_real_steps_at_every_resolution(capsys):
    assert growth_schedule.main(["--resolution", "8", *TINY_FLAGS, "--measure", "--measure-steps", "1", "--measure-batch", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [r["batch"] for r in rows] == [4, 4, 4]  # the table keeps the real batch; only the timing is capped
    assert all(r["img_per_s"] > 0 for r in rows) and rows[1]["img_per_s"] == rows[2]["img_per_s"]
    assert "measuring 4×4 at batch 2" in err and "measuring 8×8 at batch 2" in err


def test_plot_draws_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "schedule.png"
    assert growth_schedule.main([*FLAGS, "--img-per-s", "300", "--plot", str(out)]) == 0
    picture = Image.open(out)
    assert picture.format == "PNG" and picture.width > 300


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--budget", "2"], "--budget needs throughput"),
        (["--img-per-s", "4=100"], "no rate for resolution(s) 8, 16, 32"),
        (["--img-per-s", "fast"], "expected a number or RES=RATE pairs"),
        (["--measure", "--img-per-s", "3"], "not both"),
        (["--preset", "nope"], "unknown preset 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, argv, message):
    assert growth_schedule.main([*FLAGS, *argv] if "--preset" not in argv else argv) == 2
    assert message in one_line_error(capsys, "growth_schedule.py")


def test_an_unknown_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        growth_schedule.main([*FLAGS, "--bogus"])
    assert exit.value.code == 2 and "growth_schedule.py: error: unrecognized arguments: --bogus" in capsys.readouterr().err


# -- timelapse.py ----------------------------------------------------------------------------------
def gif_frames(path: Path) -> list[Image.Image]:
    gif = Image.open(path)
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(gif.convert("RGB"))
    return frames


def test_timelapse_has_one_frame_per_tick(run_dir, capsys):
    assert timelapse.main([str(run_dir)]) == 0
    ticks = sorted((run_dir / "grids").glob("tick-*.png"))
    frames = gif_frames(run_dir / "timelapse.gif")
    assert len(frames) == len(ticks) > 3
    assert {f.size for f in frames} == {(Image.open(ticks[-1]).width, Image.open(ticks[-1]).height + timelapse.LABEL_HEIGHT)}
    assert timelapse.main([str(run_dir), "--max-frames", "3", "--out", str(run_dir / "short.gif")]) == 0
    assert len(gif_frames(run_dir / "short.gif")) == 3


def test_timelapse_scales_growing_grids_to_one_size(tmp_path):
    (tmp_path / "grids").mkdir()
    for shown, size in ((100, (20, 20)), (200, (40, 40)), (300, (600, 600))):
        Image.new("RGB", size, (shown % 256, 0, 0)).save(tmp_path / "grids" / f"tick-{shown:09d}.png")
    (tmp_path / "log.jsonl").write_text("".join(json.dumps({"images_shown": n, "kimg": n / 1000, "resolution": r, "alpha": a}) + "\n" for n, r, a in ((100, 4, 1.0), (200, 8, 0.5), (300, 16, 1.0))))
    assert timelapse.main([str(tmp_path), "--size", "100", "--hold", "1"]) == 0
    frames = gif_frames(tmp_path / "timelapse.gif")
    assert [f.size for f in frames] == [(100, 100 + timelapse.LABEL_HEIGHT)] * 3
    body = np.asarray(frames[0])[timelapse.LABEL_HEIGHT :]
    assert (body[..., 0] > 90).all()  # the 20 px grid is enlarged to fill the frame, not padded
    assert timelapse.label(tmp_path / "grids" / "tick-000000200.png", {200: {"resolution": 8, "alpha": 0.5}}) == "0.2 kimg  8px  fade 0.50"


def test_timelapse_without_grids_is_one_line(tmp_path, capsys):
    assert timelapse.main([str(tmp_path)]) == 2
    assert "holds no tick-*.png grids" in one_line_error(capsys, "timelapse.py")


# -- plot_log.py -----------------------------------------------------------------------------------
def test_plot_log_draws_a_png(run_dir, capsys):
    pytest.importorskip("matplotlib")
    assert plot_log.main([str(run_dir)]) == 0
    picture = Image.open(run_dir / "log.png")
    assert picture.format == "PNG" and picture.height > picture.width


def test_plot_log_without_a_log_is_one_line(tmp_path, capsys):
    assert plot_log.main([str(tmp_path)]) == 2
    assert "log.jsonl: not found" in one_line_error(capsys, "plot_log.py")
    (tmp_path / "log.jsonl").write_text("")
    assert plot_log.main([str(tmp_path)]) == 2
    assert "holds no ticks yet" in one_line_error(capsys, "plot_log.py")


def test_read_log_keeps_the_last_record_of_a_resumed_tick_and_skips_a_torn_line(tmp_path):
    records = [{"images_shown": 10, "v": 1}, {"images_shown": 20, "v": 1}, {"images_shown": 10, "v": 2}]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"images_sh')
    assert _common.read_log(tmp_path) == [{"images_shown": 10, "v": 2}, {"images_shown": 20, "v": 1}]


@pytest.mark.parametrize("tool", [growth_schedule, timelapse, plot_log])
def test_every_tool_has_help(tool, capsys):
    with pytest.raises(SystemExit) as exit:
        tool.main(["--help"])
    assert exit.value.code == 0 and "usage:" in capsys.readouterr().out
