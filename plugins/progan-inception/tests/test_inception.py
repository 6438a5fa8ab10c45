"""The FID Inception-v3: shape, safetensors and weights-only .pth round trips, clear errors, registration."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from progan.errors import CheckpointError, ConfigError
from progan.metrics import fid
from progan_inception import FIDInceptionV3, build_inception_v3, progan_register_metrics


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[FIDInceptionV3, Path]:
    torch.manual_seed(0)
    network = FIDInceptionV3().eval()
    with torch.no_grad():  # non-trivial BN statistics, so that loading them is visible in the output
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("weights") / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path))
    return network, path


def test_safetensors_round_trip_gives_2048_features(weights):
    original, path = weights
    images = torch.rand(2, 3, 299, 299) * 2 - 1
    loaded = build_inception_v3(weights=str(path))
    with torch.no_grad():
        features = loaded(images)
        assert features.shape == (2, 2048)
        torch.testing.assert_close(features, original(images))


def test_pth_is_read_weights_only(weights, tmp_path):
    original, _ = weights
    path = tmp_path / "inception.pth"
    state = dict(original.state_dict())
    state["fc.weight"] = torch.zeros(1008, 2048)  # pytorch-fid's file carries the classifier: ignored
    torch.save(state, path)
    loaded = build_inception_v3(weights=str(path))
    torch.testing.assert_close(loaded.Mixed_7c.branch_pool.bn.running_var, original.Mixed_7c.branch_pool.bn.running_var)


def test_missing_tensor_is_named(weights, tmp_path):
    original, _ = weights
    state = {k: v for k, v in original.state_dict().items() if k != "Mixed_6b.branch7x7_2.conv.weight"}
    path = tmp_path / "broken.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match=r"1 missing tensors \(Mixed_6b\.branch7x7_2\.conv\.weight\)"):
        build_inception_v3(weights=str(path))


def test_bad_files_and_options_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs the 'weights' option"):
        build_inception_v3()
    with pytest.raises(CheckpointError, match="does not exist"):
        build_inception_v3(weights=str(tmp_path / "absent.safetensors"))
    (tmp_path / "weights.npz").write_bytes(b"x")
    with pytest.raises(CheckpointError, match=".safetensors, .pt or .pth"):
        build_inception_v3(weights=str(tmp_path / "weights.npz"))
    (tmp_path / "garbage.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="cannot read"):
        build_inception_v3(weights=str(tmp_path / "garbage.safetensors"))


def test_registered_as_a_feature_network(weights):
    _, path = weights
    progan_register_metrics(register=lambda name, factory: None)
    network = fid.feature_network("inception-v3", weights=str(path))
    assert (network.feature_dim, network.input_resolution, network.input_range) == (2048, 299, (-1.0, 1.0))
    features = fid.network_features(network, [np.zeros((1, 32, 32, 3), np.uint8)])  # resized to 299×299
    assert features.shape == (1, 2048)
