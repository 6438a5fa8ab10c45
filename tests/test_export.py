"""Exports and loading: progan export / inspect, progan.load_generator, one validated reader, ONNX."""
from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch

import progan
import tiny_run
from progan import checkpoint
from progan.cli import main
from progan.errors import CheckpointError, PluginError
from progan.export import export, load_generator, read
from progan.interfaces import latents
from progan.networks import ProganGenerator, ProganOptions


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run.train(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    export(run_dir, folder)
    return folder


@torch.no_grad()
def ema_images(run_dir, resolution=None, n=3):
    """What the latest checkpoint's G_ema draws for seed 0, built by hand from the checkpoint's tensors."""
    tensors, metadata = checkpoint.read(read(run_dir).file)
    G = ProganGenerator(ProganOptions(**json.loads(metadata["model"])["arch_options"]), resolution=16, channels=3)
    G.load_state_dict({name[len("G_ema."):]: t for name, t in tensors.items() if name.startswith("G_ema.")})
    return G(latents(n, G.latent_size, seed=0), resolution)


def rewrite(path, *, tensors=None, **metadata):
    """Save the file at ``path`` again with changed tensors or metadata (what a damaged or foreign file looks like)."""
    old_tensors, old_metadata = checkpoint.read(path)
    checkpoint.save(path, old_tensors if tensors is None else tensors, {**old_metadata, **metadata})


# -- writing and reading ---------------------------------------------------------------------------
def test_export_writes_the_ema_generator_and_its_config(run_dir, exported):
    tensors, metadata = checkpoint.read(exported / "model.safetensors")
    config = json.loads((exported / "config.json").read_text())
    assert all(name.startswith("G.") for name in tensors)
    ckpt_tensors, _ = checkpoint.read(read(run_dir).file)
    assert all(torch.equal(t, ckpt_tensors["G_ema." + name[2:]]) for name, t in tensors.items())
    assert metadata["format"] == config["format"] == "progan-generator"
    assert int(metadata["format_version"]) == config["format_version"] == checkpoint.FORMAT_VERSION
    assert json.loads(metadata["model"]) == config["model"]
    assert config["model"] | {"arch_options": None} == {"arch": "progan", "arch_options": None, "resolution": 16, "channels": 3, "latent_size": 16, "package": "progan"}
    assert config["progan_version"] == progan.__version__
    assert config["origin"]["images_shown"] == 240 and config["origin"]["stage"] == "stabilise 16"


def test_load_generator_is_lazy_on_the_package_and_gives_an_eval_module(exported, run_dir):
    G = progan.load_generator(exported)
    assert isinstance(G, torch.nn.Module) and not G.training
    assert not any(p.requires_grad for p in G.parameters())
    z = latents(3, G.latent_size, seed=0)
    assert torch.equal(G(z), ema_images(run_dir))
    assert torch.equal(G.sample(3, seed=0), G(z))
    assert G.sample(2, seed=0).shape == (2, 3, 16, 16)
    assert torch.equal(load_generator(exported / "model.safetensors", device="cpu")(z), G(z))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_load_generator_on_cuda(exported):
    G = load_generator(exported, device="cuda")
    assert G.sample(2, seed=0).device.type == "cuda"
    assert torch.allclose(G.sample(2, seed=0).cpu(), load_generator(exported).sample(2, seed=0), atol=1e-4)


def test_an_earlier_stage_keeps_only_its_tensors(run_dir, tmp_path):
    export(run_dir, tmp_path, resolution=8)
    tensors, _ = checkpoint.read(tmp_path / "model.safetensors")
    small = load_generator(tmp_path)
    assert small.resolution == 8 and set(tensors) == {f"G.{name}" for name in small.state_dict()}
    assert len(tensors) < len(checkpoint.read(read(run_dir).file)[0]) / 3
    assert torch.equal(small(latents(3, 16, seed=0)), ema_images(run_dir, resolution=8))
    assert torch.equal(load_generator(run_dir, resolution=8)(latents(3, 16, seed=0)), ema_images(run_dir, resolution=8))


def test_a_checkpoint_loads_at_the_stage_it_reached(run_dir):
    earlier = sorted((run_dir / "checkpoints").glob("*.safetensors"))[2]  # the end of stabilise 8
    assert load_generator(earlier).resolution == 8
    with pytest.raises(CheckpointError, match=r"no trained stage at 16px; choose one of 4, 8$"):
        load_generator(earlier, resolution=16)


@pytest.mark.parametrize("resolution", [32, 12, 2])
def test_untrained_resolutions_are_refused(run_dir, resolution):
    with pytest.raises(CheckpointError, match="choose one of 4, 8, 16"):
        load_generator(run_dir, resolution=resolution)


def test_export_needs_no_training_data(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("progan.trainer.load_dataset", lambda *a, **k: pytest.fail("export read the training data"))
    assert main(["export", str(run_dir), "--out", str(tmp_path)]) == 0
    assert load_generator(tmp_path).resolution == 16


def test_a_mid_fade_export_says_so(tmp_path, capsys):
    ckpt = tiny_run.mid_fade_checkpoint(tmp_path / "mid.safetensors")
    assert main(["export", str(ckpt), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "mid-fade (alpha 0.4" in out and "--resolution 4 gives the last stable stage" in out
    assert load_generator(tmp_path / "out").resolution == 8


# -- refusing bad files ----------------------------------------------------------------------------
@pytest.fixture
def copy(exported, tmp_path):
    """A throw-away copy of the export."""
    for name in ("model.safetensors", "config.json"):
        (tmp_path / name).write_bytes((exported / name).read_bytes())
    return tmp_path


def test_a_shape_mismatch_is_named(copy):
    tensors, _ = checkpoint.read(copy / "model.safetensors")
    tensors["G.to_rgb.0.bias"] = torch.zeros(7)
    rewrite(copy / "model.safetensors", tensors=tensors)
    with pytest.raises(CheckpointError, match=r"G.to_rgb.0.bias has shape \(7,\) but the config builds \(3,\)"):
        load_generator(copy)


@pytest.mark.parametrize("change, message", [("drop", "missing"), ("add", "unexpected")])
def test_missing_and_unexpected_tensors_are_named(copy, change, message):
    tensors, _ = checkpoint.read(copy / "model.safetensors")
    if change == "drop":
        del tensors["G.to_rgb.2.weight"]
    else:
        tensors["G.extra.weight"] = torch.zeros(1)
    rewrite(copy / "model.safetensors", tensors=tensors)
    with pytest.raises(CheckpointError, match=message):
        load_generator(copy)


def test_an_unknown_architecture_names_its_package(copy):
    (copy / "config.json").unlink()
    model = json.loads(checkpoint.read(copy / "model.safetensors")[1]["model"]) | {"arch": "stylegan9", "package": "progan-stylegan9"}
    rewrite(copy / "model.safetensors", model=json.dumps(model))
    with pytest.raises(PluginError, match=r"'stylegan9' from package 'progan-stylegan9'.*pip install progan-stylegan9"):
        load_generator(copy)


def test_a_newer_format_version_is_refused(copy):
    rewrite(copy / "model.safetensors", format_version=str(checkpoint.FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match="newer than this progan reads"):
        load_generator(copy)


def test_config_json_must_agree_with_the_file(copy):
    config = json.loads((copy / "config.json").read_text())
    config["model"]["resolution"] = 32
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config.json: disagrees with model.safetensors on model.resolution \(32 vs 16\)"):
        load_generator(copy)
    (copy / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not readable JSON"):
        load_generator(copy)


def test_loading_never_unpickles(copy, monkeypatch):
    monkeypatch.setattr("pickle.loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load"))
    load_generator(copy)


def test_bad_input_is_one_line_and_exit_code_2(run_dir, tmp_path, capsys):
    cases = [
        ["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")],
        ["export", str(run_dir), "--out", str(tmp_path / "o"), "--resolution", "64"],
        ["export", str(run_dir), "--out", str(tmp_path / "o"), "--format", "tflite"],
        ["export", str(run_dir), "--out", str(run_dir)],
        ["inspect", str(tmp_path)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("progan: error: ") and err.count("\n") == 1 and "Traceback" not in err, err


# -- inspect ---------------------------------------------------------------------------------------
def test_inspect_reports_a_checkpoint_without_loading_its_tensors(run_dir, capsys, monkeypatch):
    monkeypatch.setattr(safetensors.torch, "load_file", lambda *a, **k: pytest.fail("loaded the tensors"))
    assert main(["inspect", str(run_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "progan-checkpoint" and info["format_version"] == checkpoint.FORMAT_VERSION
    assert info["architecture"] == "progan" and info["resolution"] == 16 and info["latent_size"] == 16
    assert info["progress"] == {"images_shown": 240, "stage": "stabilise 16", "resolution": 16, "alpha": 1.0}
    assert set(info["parameters"]) == {"G", "D", "G_ema"} and info["parameters"]["G"] == info["parameters"]["G_ema"]
    assert info["config"]["schedule"]["stabilise_kimg"] == 0.048
    assert info["file_bytes"] > 0


def test_inspect_counts_match_the_networks(run_dir, exported, capsys):
    G = load_generator(exported)
    assert main(["inspect", str(exported), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == {"G": sum(t.numel() for t in G.state_dict().values())}
    assert info["format"] == "progan-generator" and "config" not in info
    assert main(["inspect", str(run_dir)]) == 0
    text = capsys.readouterr().out
    for expected in ("progan-checkpoint version 1", "stabilise 16 at 16×16, alpha 1.000", "240 (0.24 kimg)", "G_ema", "schedule.fade_kimg = 0.048"):
        assert expected in text


# -- ONNX ------------------------------------------------------------------------------------------
def test_onnx_export_matches_pytorch(run_dir, tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    assert main(["export", str(run_dir), "--out", str(tmp_path), "--format", "onnx", "--resolution", "8"]) == 0
    assert "onnxruntime agrees" in capsys.readouterr().out
    model = onnx.load(str(tmp_path / "model.onnx"))
    assert {p.key: p.value for p in model.metadata_props}["format"] == "progan-generator"
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    G = load_generator(tmp_path)
    for n in (1, 5):  # the batch size is free
        z = latents(n, G.latent_size, seed=n)
        assert (torch.from_numpy(session.run(None, {"z": z.numpy()})[0]) - G(z)).abs().max() < 1e-4
