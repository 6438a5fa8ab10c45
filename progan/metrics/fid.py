"""FID and KID from feature arrays, and the pluggable feature networks that make the features.

A feature network is an ``nn.Module`` (see :class:`FeatureNetwork`) built by a factory
``factory(*, weights: str | None) -> FeatureNetwork``.  The metrics name it either by a registered
name (``random-conv`` here, ``inception-v3`` from the progan-inception plugin) or as
``"module:callable"``.  Nothing is ever downloaded: weights come from a file the user names.
"""
from __future__ import annotations

import functools
import importlib
from typing import Callable, Iterable, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from progan.errors import ConfigError, PluginError


# -- FID ----------------------------------------------------------------------------------------
def feature_statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D, D] (unbiased, as TTUR and pytorch-fid) of features [N, D], float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"expected features [N >= 2, D], got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix; rounding's tiny negative eigenvalues count as 0."""
    eigenvalues, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ1−μ2‖² + tr(Σ1 + Σ2 − 2(Σ1Σ2)^½), with tr((Σ1Σ2)^½) = tr((√Σ1 Σ2 √Σ1)^½) in float64."""
    mu1, mu2, sigma1, sigma2 = (np.asarray(v, dtype=np.float64) for v in (mu1, mu2, sigma1, sigma2))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"mismatched statistics: {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    # The symmetric form keeps the product PSD, so eigh applies and no complex square root appears.
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2.0), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


# -- KID ----------------------------------------------------------------------------------------
def kernel_inception_distance(
    f1: np.ndarray | torch.Tensor,
    f2: np.ndarray | torch.Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean and std over random subsets of the unbiased MMD² with kernel (x·y/D + 1)³ (Bińkowski et al.)."""
    x_all, y_all = (np.asarray(f, dtype=np.float64) for f in (f1, f2))
    if x_all.ndim != 2 or y_all.ndim != 2 or x_all.shape[1] != y_all.shape[1]:
        raise ValueError(f"expected features [N, D] of one width, got {x_all.shape} and {y_all.shape}")
    m = min(subset_size, len(x_all), len(y_all))
    if m < 2:
        raise ValueError("KID needs at least two samples per set")
    dim = x_all.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        k_xx, k_yy, k_xy = ((u @ v.T / dim + 1.0) ** 3 for u, v in ((x, x), (y, y), (x, y)))
        # Unbiased: the within-set sums leave out the diagonal k(x_i, x_i).
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values.append(within - 2.0 * k_xy.sum() / (m * m))
    return float(np.mean(values)), float(np.std(values))


# -- feature networks ---------------------------------------------------------------------------
@runtime_checkable
class FeatureNetwork(Protocol):
    """An ``nn.Module``: float images [N, 3, r, r] (r = ``input_resolution``, values in ``input_range``) → [N, D]."""

    feature_dim: int
    input_resolution: int  # images are resized (bilinear) to r×r before the network sees them
    input_range: tuple[float, float]  # uint8 0 and 255 map to these values

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


FeatureNetworkFactory = Callable[..., nn.Module]  # factory(*, weights: str | None) -> FeatureNetwork


def prepare_images(images: np.ndarray, network: FeatureNetwork, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 NHWC images as the float [N, 3, r, r] input ``network`` expects."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).float().permute(0, 3, 1, 2)  # [N, C, H, W]
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    r = network.input_resolution
    if x.shape[-2:] != (r, r):
        # Resizing before the affine range map equals resizing after it: both are linear.
        x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False)
    low, high = network.input_range
    return x * ((high - low) / 255.0) + low


@torch.no_grad()
def network_features(
    network: FeatureNetwork, batches: Iterable[np.ndarray], *, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Features [N, D] (float32) of uint8 NHWC batches."""
    chunks = [network(prepare_images(batch, network, device=device)).float().cpu() for batch in batches]
    features = torch.cat(chunks).numpy()
    if features.ndim != 2 or features.shape[1] != network.feature_dim:
        raise PluginError(f"feature network returned shape {features.shape}, expected [N, {network.feature_dim}]")
    return features


class RandomConvFeatures(nn.Module):
    """A fixed random conv net (seed 0, 128-D): no weights file, for tests and quick relative comparisons."""

    feature_dim = 128
    input_resolution = 64
    input_range = (-1.0, 1.0)

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        widths = [3, 32, 64, self.feature_dim]
        layers: list[nn.Module] = []
        for cin, cout in zip(widths, widths[1:]):
            conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
            # Drawn from our own generator so the features are the same on every machine and run.
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / (cin * 9)) ** 0.5)
                conv.bias.zero_()
            layers += [conv, nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images).mean(dim=(2, 3))  # [N, 128]: global average pool

    @classmethod
    def build(cls, *, weights: str | None = None) -> RandomConvFeatures:
        """The factory registered as ``random-conv``; it takes no weights."""
        if weights is not None:
            raise ConfigError("feature network 'random-conv' has fixed random weights; remove the 'weights' option")
        return cls()


_NETWORKS: dict[str, FeatureNetworkFactory] = {"random-conv": RandomConvFeatures.build}


def register_feature_network(name: str, factory: FeatureNetworkFactory) -> None:
    """Make ``factory`` available as ``network: name``; registering the same factory again is a no-op."""
    existing = _NETWORKS.get(name)
    if existing is not None and existing != factory:
        raise PluginError(
            f"feature network {name!r} is registered twice ({existing!r} and {factory!r}); uninstall one plugin"
        )
    _NETWORKS[name] = factory


def feature_network(name: str, *, weights: str | None = None) -> nn.Module:
    """Build the feature network ``name`` (registered, or ``"module:callable"``) in eval mode."""
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            factory = functools.reduce(getattr, attribute.split("."), importlib.import_module(module_name))
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"feature network {name!r} cannot be imported: {type(exc).__name__}: {exc}") from exc
    elif name in _NETWORKS:
        factory = _NETWORKS[name]
    else:
        hint = " (install plugins/progan-inception and pass 'weights')" if name == "inception-v3" else ""
        raise ConfigError(
            f"unknown feature network {name!r}{hint}; registered: {', '.join(sorted(_NETWORKS))}, "
            f"or give 'module:callable'"
        )
    network = factory(weights=weights)
    if not isinstance(network, nn.Module) or not isinstance(network, FeatureNetwork):
        raise PluginError(
            f"feature network {name!r} must be an nn.Module with feature_dim, input_resolution and input_range"
        )
    return network.eval().requires_grad_(False)
