"""progan generate: grids, chosen seeds, separate PNGs, earlier stages and latent-walk GIFs; slerp and walks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import tiny_run
from progan import images
from progan.cli import main
from progan.export import load_generator
from progan.sampling import seed_latents, slerp, walk


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run.train(tmp_path_factory.mktemp("run"))


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_seed_and_num_give_the_images_of_sample(run_dir, tmp_path):
    assert main(["generate", str(run_dir), "--seed", "3", "--num", "5", "--separate", "--out", str(tmp_path)]) == 0
    expected = images.to_uint8(load_generator(run_dir).sample(5, seed=3))
    for i in range(5):
        assert np.array_equal(pixels(tmp_path / f"seed3-{i:05d}.png"), expected[i])


def test_chosen_seeds_give_one_image_each(run_dir, tmp_path):
    assert main(["generate", str(run_dir), "--seeds", "1,5,7-8", "--separate", "--out", str(tmp_path)]) == 0
    G = load_generator(run_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0001.png", "seed0005.png", "seed0007.png", "seed0008.png"]
    assert np.array_equal(pixels(tmp_path / "seed0005.png"), images.to_uint8(G.sample(1, seed=5))[0])


def test_a_grid_holds_every_image(run_dir, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["generate", str(run_dir), "--seeds", "0-3", "--out", str(out)]) == 0
    expected = images.grid(images.to_uint8(load_generator(run_dir)(seed_latents(range(4), 16))))
    assert np.array_equal(pixels(out), expected)


def test_an_earlier_stage(run_dir, tmp_path):
    assert main(["generate", str(run_dir), "--num", "2", "--resolution", "8", "--separate", "--out", str(tmp_path)]) == 0
    assert pixels(tmp_path / "seed0-00000.png").shape == (8, 8, 3)


def test_interpolation_is_a_looping_gif_through_the_seeds(run_dir, tmp_path):
    out = tmp_path / "walk.gif"
    assert main(["generate", str(run_dir), "--interpolate", "0,1", "--frames", "6", "--out", str(out)]) == 0
    gif = Image.open(out)
    assert gif.n_frames == 6 and gif.size == (128, 128) and gif.info["loop"] == 0
    frames = []
    for i in range(6):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB"), dtype=np.int16))
    G = load_generator(run_dir)
    first = images.grid(images.to_uint8(G.sample(1, seed=0)), min_cell=128, pad=0)
    assert np.abs(frames[0] - first).mean() < 8  # the GIF palette costs a little
    assert all(np.abs(a - b).mean() > 0 for a, b in zip(frames, frames[1:]))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--interpolate", "0"], "at least two seeds"),
        (["--seeds", "1,2", "--num", "4"], "leave them out"),
        (["--interpolate", "0,1", "--out", "walk.png"], "name it *.gif"),
        (["--num", "0"], "--num must be at least 1"),
        (["--resolution", "32"], "no trained stage at 32px"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(run_dir, tmp_path, capsys, argv, message):
    assert main(["generate", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unreadable_seed_lists_are_usage_errors(run_dir, capsys):
    for seeds in ("a,b", "5-2"):
        with pytest.raises(SystemExit) as exit:
            main(["generate", str(run_dir), "--seeds", seeds])
        assert exit.value.code == 2
    assert "expected seeds like 1,5,9" in capsys.readouterr().err


# -- latent walks ----------------------------------------------------------------------------------
def test_slerp_keeps_the_ends_and_the_norm_of_equal_norm_latents():
    a, b = torch.randn(4, 64), torch.randn(4, 64)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    assert torch.allclose(slerp(a, b, torch.zeros(4)), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, torch.ones(4)), b, atol=1e-5)
    middle = slerp(a, b, torch.full((4,), 0.5))
    assert torch.allclose(middle.norm(dim=1), a.norm(dim=1), rtol=1e-4)  # a straight line would shrink it
    assert (torch.lerp(a, b, 0.5).norm(dim=1) < a.norm(dim=1)).all()


def test_slerp_of_parallel_latents_is_the_straight_line():
    a = torch.randn(1, 8)
    assert torch.allclose(slerp(a, 2 * a, torch.tensor([0.5])), 1.5 * a)
    assert torch.isfinite(slerp(a, a, torch.tensor([0.3]))).all()


def test_a_walk_passes_every_key_and_closes_the_loop():
    keys = torch.randn(3, 16)
    path = walk(keys, 12)
    assert path.shape == (12, 16)
    for i in range(3):
        assert torch.allclose(path[4 * i], keys[i], atol=1e-5)
    angle = [math.acos(float(torch.nn.functional.cosine_similarity(p, q, dim=0).clamp(-1, 1))) for p, q in zip(path, path.roll(-1, 0))]
    assert max(angle) < 1.0  # no jump, including last -> first
