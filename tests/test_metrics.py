"""Metrics: SWD, MS-SSIM, FID/KID math against direct computations, and the metric glue."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from progan.errors import ConfigError, PluginError
from progan.interfaces import Generator
from progan.metrics import evaluate, fid, msssim, swd

BINOMIAL = [1, 4, 6, 4, 1]


# -- helpers --------------------------------------------------------------------------------------
def smooth_images(count: int, size: int, *, seed: int, noise: float = 0.0) -> np.ndarray:
    """Blurry colour blobs (plus optional pixel noise) as uint8 NHWC."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.uniform(0, 255, (count, 3, size // 8, size // 8)).astype(np.float32))
    x = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    x = x + torch.from_numpy(rng.normal(0, noise, x.shape).astype(np.float32))
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy().copy()  # [N, H, W, C]


def mirror(i: int, n: int) -> int:
    return -i if i < 0 else 2 * (n - 1) - i if i >= n else i


def loop_filter(image: np.ndarray, weight: float) -> np.ndarray:
    """Direct 5×5 binomial filter of a 2-D array with scipy-'mirror' edges, by loops."""
    h, w = image.shape
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            for i in range(5):
                for j in range(5):
                    out[y, x] += BINOMIAL[i] * BINOMIAL[j] / 256 * weight * image[mirror(y + i - 2, h), mirror(x + j - 2, w)]
    return out


def numpy_filter(image: np.ndarray, weight: float) -> np.ndarray:
    """The same filter vectorised: np.pad 'reflect' is scipy's 'mirror'."""
    h, w = image.shape[-2:]
    p = np.pad(image, [(0, 0)] * (image.ndim - 2) + [(2, 2), (2, 2)], mode="reflect")
    return sum(BINOMIAL[i] * BINOMIAL[j] / 256 * weight * p[..., i : i + h, j : j + w] for i in range(5) for j in range(5))


def zero_insert(image: np.ndarray) -> np.ndarray:
    up = np.zeros(image.shape[:-2] + (2 * image.shape[-2], 2 * image.shape[-1]))
    up[..., ::2, ::2] = image
    return up


class TinyGenerator(Generator):
    latent_size = 8
    resolution = 32
    channels = 3

    def __init__(self) -> None:
        super().__init__()
        self.pattern = nn.Parameter(torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(0)))

    def forward(self, z: torch.Tensor, resolution: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        # Elementwise only, so the output of one latent cannot depend on the batch it is in.
        x = torch.tanh(z[:, :3, None, None] + self.pattern) * 1.2  # a little beyond [-1, 1]: clipping is exercised
        r = resolution or self.resolution
        return F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False)


# -- SWD: pyramid ---------------------------------------------------------------------------------
def test_pyramid_sizes_go_down_to_the_16_lowpass():
    assert swd.pyramid_sizes(64) == [64, 32, 16]
    assert swd.pyramid_sizes(128) == [128, 64, 32, 16]
    assert swd.pyramid_sizes(16) == [16]
    assert swd.pyramid_sizes(8) == [8]  # below the low-pass size the image itself is the only level


def test_laplacian_pyramid_levels_of_64():
    x = torch.from_numpy(smooth_images(2, 64, seed=0)).permute(0, 3, 1, 2).float()
    levels = swd.laplacian_pyramid(x, 3)
    assert [tuple(level.shape) for level in levels] == [(2, 3, 64, 64), (2, 3, 32, 32), (2, 3, 16, 16)]
    torch.testing.assert_close(levels[2], swd.pyr_down(swd.pyr_down(x)))  # the last level is the low-pass
    torch.testing.assert_close(levels[0], x - swd.pyr_up(swd.pyr_down(x)))  # finest band


def test_pyr_down_and_up_match_a_direct_loop_on_a_tiny_image():
    image = np.random.default_rng(0).uniform(-50, 50, (6, 8))
    x = torch.from_numpy(image).float()[None, None]
    expected_down = loop_filter(image, 1.0)[::2, ::2]
    np.testing.assert_allclose(swd.pyr_down(x)[0, 0].numpy(), expected_down, atol=1e-4)
    expected_up = loop_filter(zero_insert(image), 4.0)
    np.testing.assert_allclose(swd.pyr_up(x)[0, 0].numpy(), expected_up, atol=1e-4)


def test_pyr_down_and_up_over_several_matmul_blocks():
    image = np.random.default_rng(1).uniform(0, 255, (2, 1, 136, 160))  # 68 and 80 outputs: several blocks
    x = torch.from_numpy(image).float()
    np.testing.assert_allclose(swd.pyr_down(x).numpy(), numpy_filter(image, 1.0)[..., ::2, ::2], atol=1e-3)
    np.testing.assert_allclose(swd.pyr_up(x).numpy(), numpy_filter(zero_insert(image), 4.0), atol=1e-3)


def test_valid_filter_on_small_and_large_images():
    taps = [0.1, 0.2, 0.4, 0.2, 0.1, 0.05]
    for size in (20, 150):  # a whole-axis matrix, then blocks of positions
        image = np.random.default_rng(size).uniform(0, 255, (1, 2, size, size + 6))
        h, w = size - 5, size + 1
        expected = sum(taps[i] * taps[j] * image[..., i : i + h, j : j + w] for i in range(6) for j in range(6))
        np.testing.assert_allclose(swd.filter_2d(torch.from_numpy(image), taps).numpy(), expected, rtol=1e-12)


# -- SWD: descriptors -----------------------------------------------------------------------------
def test_patches_are_7x7_windows_centred_inside_the_image():
    level = torch.arange(2 * 3 * 12 * 12, dtype=torch.float32).view(2, 3, 12, 12)
    ys, xs = swd.random_centres(2 * 50, 12, seed=0)
    assert ys.min() >= 3 and ys.max() <= 12 - 4 and xs.min() >= 3 and xs.max() <= 12 - 4
    patches = swd.extract_patches(level, ys, xs)
    assert patches.shape == (100, 147)
    for row in (0, 49, 50, 99):
        b, y, x = row // 50, int(ys[row]), int(xs[row])
        window = level[b, :, y - 3 : y + 4, x - 3 : x + 4]  # [C, 7, 7]
        torch.testing.assert_close(patches[row], window.permute(1, 2, 0).reshape(-1))  # (y, x, channel) order


def test_descriptors_are_normalised_per_channel():
    images = smooth_images(20, 32, seed=0, noise=3.0)
    images[..., 0] //= 4  # give the channels different statistics
    levels = swd.descriptors_for_swd(images, seed=0, nhoods_per_image=16)
    assert [tuple(d.shape) for d in levels] == [(320, 147), (320, 147)]
    for desc in levels:
        per_channel = desc.view(-1, 49, 3).permute(2, 0, 1).reshape(3, -1).double()  # components are (y, x, c)
        np.testing.assert_allclose(per_channel.mean(dim=1).numpy(), 0.0, atol=1e-5)
        np.testing.assert_allclose(per_channel.std(dim=1, unbiased=False).numpy(), 1.0, atol=1e-5)


def test_descriptors_do_not_depend_on_the_batches():
    images = smooth_images(10, 32, seed=0)
    whole = swd.descriptors_for_swd(images, seed=3, nhoods_per_image=8)
    collector = swd.SWDDescriptors(12, seed=3, nhoods_per_image=8)
    for batch in evaluate.rebatch([images[:4], images[4:5], images[5:]], 3):
        collector.add(batch)
    for x, y in zip(whole, collector.finish()):
        torch.testing.assert_close(x, y)


def test_rebatch_keeps_the_images_and_their_order():
    images = np.arange(11)[:, None, None, None].astype(np.uint8)
    batches = list(evaluate.rebatch([images[:2], images[2:3], images[3:9], images[9:]], 4))
    assert [len(b) for b in batches] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate(batches), images)


def test_grayscale_is_tiled_to_three_channels():
    gray = smooth_images(6, 32, seed=0)[..., :1]
    a = swd.descriptors_for_swd(gray, seed=1, nhoods_per_image=4)
    b = swd.descriptors_for_swd(np.repeat(gray, 3, axis=-1), seed=1, nhoods_per_image=4)
    torch.testing.assert_close(a[0], b[0])


# -- SWD: distance --------------------------------------------------------------------------------
def w1_by_cdfs(a: np.ndarray, b: np.ndarray) -> float:
    """1-D Wasserstein-1 as ∫|F_a − F_b|, independent of the sorted-pairs formula."""
    points = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), points[:-1], side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), points[:-1], side="right") / len(b)
    return float(np.sum(np.abs(cdf_a - cdf_b) * np.diff(points)))


def test_sliced_wasserstein_in_one_dimension_is_w1():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 300), rng.normal(0.3, 1.5, 300)
    # In 1-D every unit direction is ±1, and W1 does not care about the sign.
    got = swd.sliced_wasserstein([torch.tensor(a[:, None]).float()], [torch.tensor(b[:, None]).float()], seed=0,
                                 dir_repeats=2, dirs_per_repeat=3)
    assert got[0] == pytest.approx(w1_by_cdfs(a, b), rel=1e-5)


def test_sliced_wasserstein_cuts_the_larger_set():
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.normal(size=(100, 147))).float()
    b = torch.from_numpy(rng.normal(size=(160, 147))).float()
    assert swd.sliced_wasserstein([a], [b], seed=5) == swd.sliced_wasserstein([a], [b[:100]], seed=5)


def test_swd_of_a_set_with_itself_is_zero_and_grows_with_noise():
    images = smooth_images(24, 32, seed=0, noise=2.0)
    reference = swd.descriptors_for_swd(images, seed=0, nhoods_per_image=32)

    def finest(other: np.ndarray) -> float:
        # The same seed samples the same patch positions, so only the pixels differ.
        desc = swd.descriptors_for_swd(other, seed=0, nhoods_per_image=32)
        return swd.swd_figures(reference, desc, [32, 16], seed=0, dir_repeats=2, dirs_per_repeat=64)["swd_32"]

    distances = [finest(smooth_images(24, 32, seed=0, noise=n)) for n in (2.0, 6.0, 20.0)]
    assert distances[0] == 0.0 < distances[1] < distances[2]
    same = swd.swd(images, images, seed=0)  # other random patches of the same images: only sampling noise
    assert list(same) == ["swd_avg", "swd_32", "swd_16"]
    assert same["swd_32"] < distances[2]


def test_swd_floor_uses_two_disjoint_halves():
    images = smooth_images(40, 32, seed=0, noise=2.0)
    floor = swd.swd_floor(images, seed=0, nhoods_per_image=16)
    assert list(floor) == ["swd_floor_avg", "swd_floor_32", "swd_floor_16"]
    assert all(math.isfinite(v) and v > 0 for v in floor.values())


def test_swd_rejects_images_smaller_than_a_neighbourhood():
    with pytest.raises(ValueError, match="at least 7"):
        swd.descriptors_for_swd(np.zeros((2, 4, 4, 3), np.uint8), seed=0)


# -- MS-SSIM --------------------------------------------------------------------------------------
def naive_ssim(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Single-scale SSIM and cs of two [H, W, C] float images by loops over window positions."""
    h, w, _ = x.shape
    size = min(11, h, w)
    sigma = 1.5 * size / 11
    offset = 0.5 if size % 2 == 0 else 0.0
    coords = np.arange(size) - size // 2 + offset
    window = np.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma**2))
    window /= window.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ssims, css = [], []
    for i in range(h - size + 1):
        for j in range(w - size + 1):
            for c in range(x.shape[2]):
                px, py = x[i : i + size, j : j + size, c], y[i : i + size, j : j + size, c]
                mx, my = (window * px).sum(), (window * py).sum()
                vx = (window * px * px).sum() - mx * mx
                vy = (window * py * py).sum() - my * my
                cov = (window * px * py).sum() - mx * my
                css.append((2 * cov + c2) / (vx + vy + c2))
                ssims.append((2 * mx * my + c1) / (mx * mx + my * my + c1) * css[-1])
    return float(np.mean(ssims)), float(np.mean(css))


def naive_ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    x, y = a.astype(np.float64), b.astype(np.float64)
    terms = []
    for scale in range(5):
        if scale:
            x, y = ((v[0::2, 0::2] + v[1::2, 0::2] + v[0::2, 1::2] + v[1::2, 1::2]) / 4 for v in (x, y))
        ssim, cs = naive_ssim(x, y)
        terms.append(cs if scale < 4 else ssim)
    return float(np.prod(np.maximum(terms, 0.0) ** np.array(msssim.WEIGHTS)))


def test_ssim_matches_a_naive_computation_with_full_and_shrunk_windows():
    rng = np.random.default_rng(0)
    for size in (13, 8):  # 11×11 window, then a window shrunk to 8×8 with a half-pixel centre
        a = rng.uniform(0, 255, (size, size, 2))
        b = np.clip(a + rng.normal(0, 30, a.shape), 0, 255)
        x, y = (torch.from_numpy(v).permute(2, 0, 1)[None] for v in (a, b))
        ssim, cs = msssim.ssim_and_cs(x, y)
        expected = naive_ssim(a, b)
        assert ssim.item() == pytest.approx(expected[0], rel=1e-9)
        assert cs.item() == pytest.approx(expected[1], rel=1e-9)


def test_ms_ssim_matches_a_naive_five_scale_computation():
    a = smooth_images(2, 16, seed=0, noise=10.0)
    b = np.clip(a.astype(int) + np.random.default_rng(1).integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    got = msssim.ms_ssim(a, b)
    for i in range(2):
        assert got[i].item() == pytest.approx(naive_ms_ssim(a[i], b[i]), rel=1e-9)


def test_ms_ssim_of_identical_pairs_is_one_and_of_noise_near_zero():
    images = smooth_images(8, 32, seed=0, noise=5.0)
    torch.testing.assert_close(msssim.ms_ssim(images, images), torch.ones(8, dtype=torch.float64))
    noise = np.random.default_rng(0).integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)
    assert 0.0 <= msssim.ms_ssim_pairs(noise) < 0.1
    assert msssim.ms_ssim_pairs(np.repeat(images, 2, axis=0)) == pytest.approx(1.0)  # pairs (0,1), (2,3)… equal


def test_ms_ssim_pairs_is_the_mean_over_consecutive_pairs_in_any_batches():
    images = smooth_images(11, 32, seed=0, noise=20.0)  # odd: the last image has no partner
    expected = msssim.ms_ssim(images[0:10:2], images[1:10:2]).mean().item()
    assert msssim.ms_ssim_pairs(images, batch_size=4) == pytest.approx(expected)
    assert msssim.ms_ssim_pairs([images[:6], images[6:10]]) == pytest.approx(expected)


def test_ms_ssim_needs_16_pixels():
    with pytest.raises(ValueError, match="at least 16"):
        msssim.ms_ssim(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 8, 8, 3), np.uint8))


# -- FID and KID ----------------------------------------------------------------------------------
def test_fid_of_identical_statistics_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 16))
    mu, sigma = fid.feature_statistics(features)
    assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_fid_of_diagonal_gaussians_has_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert fid.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_fid_of_full_covariances_matches_the_eigenvalues_of_their_product():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(8, 8)), rng.normal(size=(8, 3))  # the second covariance is rank-deficient
    s1, s2 = a @ a.T, b @ b.T
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    # tr((S1 S2)^½) is the sum of square roots of the (real, non-negative) eigenvalues of S1 S2.
    trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_feature_statistics_are_mean_and_unbiased_covariance():
    features = np.random.default_rng(0).normal(size=(50, 4))
    mu, sigma = fid.feature_statistics(features)
    np.testing.assert_allclose(mu, features.mean(axis=0))
    np.testing.assert_allclose(sigma, np.cov(features.T, ddof=1))


def test_kid_matches_a_direct_double_loop():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1, size=(7, 3))

    def k(u, v):
        return (u @ v / 3 + 1) ** 3

    m = 7
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    # One subset of all samples is a permutation, which the statistic does not see.
    mean, std = fid.kernel_inception_distance(x, y, subsets=1, subset_size=100, seed=0)
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-12)
    assert std == 0.0


def test_kid_is_unbiased_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(0)
    a, b, shifted = rng.normal(size=(400, 8)), rng.normal(size=(400, 8)), rng.normal(0.4, 1, size=(400, 8))
    same, same_std = fid.kernel_inception_distance(a, b, subsets=40, subset_size=100, seed=0)
    different, _ = fid.kernel_inception_distance(a, shifted, subsets=40, subset_size=100, seed=0)
    assert different > 0
    assert abs(same) < 0.1 * different
    assert abs(same) < 3 * same_std  # zero within the subset noise (an unbiased estimate may be negative)


# -- feature networks -----------------------------------------------------------------------------
def test_random_conv_features_are_fixed_and_named():
    images = smooth_images(3, 32, seed=0)
    first = fid.network_features(fid.feature_network("random-conv"), [images])
    by_path = fid.feature_network("progan.metrics.fid:RandomConvFeatures.build")
    again = fid.network_features(by_path, [images[:2], images[2:]])
    assert first.shape == (3, 128)
    np.testing.assert_allclose(first, again, rtol=1e-5, atol=1e-6)


def test_prepare_images_resizes_and_maps_the_range():
    network = fid.RandomConvFeatures()
    images = np.full((2, 32, 32, 1), 255, np.uint8)
    x = fid.prepare_images(images, network)
    assert x.shape == (2, 3, 64, 64)
    torch.testing.assert_close(x, torch.ones_like(x))


def test_feature_network_errors():
    with pytest.raises(ConfigError, match="unknown feature network 'inception-v9'"):
        fid.feature_network("inception-v9")
    with pytest.raises(ConfigError, match="cannot be imported"):
        fid.feature_network("no_such_module:build")
    with pytest.raises(ConfigError, match="fixed random weights"):
        fid.feature_network("random-conv", weights="x.safetensors")
    fid.register_feature_network("random-conv", fid.RandomConvFeatures.build)  # the same factory again: fine
    with pytest.raises(PluginError, match="registered twice"):
        fid.register_feature_network("random-conv", lambda *, weights=None: fid.RandomConvFeatures())


# -- glue -----------------------------------------------------------------------------------------
def test_generate_uint8_quantises_and_ignores_the_batch_size():
    generator = TinyGenerator()
    generator.train()
    a = np.concatenate(list(evaluate.generate_uint8(generator, 10, seed=1, batch_size=3)))
    b = np.concatenate(list(evaluate.generate_uint8(generator, 10, seed=1, batch_size=10, resolution=32)))
    assert a.dtype == np.uint8 and a.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(a, b)
    assert generator.training  # the mode is restored
    values = torch.tensor([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0]).view(1, 1, 1, 6)
    assert evaluate.quantise(values).ravel().tolist() == [0, 0, 128, 191, 255, 255]


def test_metrics_against_a_tiny_generator():
    generator = TinyGenerator()
    reals = smooth_images(24, 32, seed=0, noise=2.0)
    small_swd = {"nhoods_per_image": 8, "dir_repeats": 1, "dirs_per_repeat": 16, "floor": True}
    figures = evaluate.SWDMetric(small_swd).compute(generator, reals, num=16, seed=0)
    assert list(figures)[:3] == ["swd_avg", "swd_32", "swd_16"] and "swd_floor_avg" in figures
    assert figures == evaluate.SWDMetric(small_swd).compute(generator, reals, num=16, seed=0)
    ms = evaluate.MSSSIMMetric({"batch_size": 4}).compute(generator, reals, num=9, seed=0)
    assert list(ms) == ["msssim", "msssim_reals"] and 0 <= ms["msssim"] <= 1
    frechet = evaluate.FIDMetric({"network": "random-conv"}).compute(generator, reals, num=12, seed=0)
    assert list(frechet) == ["fid"] and frechet["fid"] > 0
    kid_options = {"network": "random-conv", "subsets": 3, "subset_size": 8}
    kid = evaluate.KIDMetric(kid_options).compute(generator, reals, num=12, seed=0)
    assert list(kid) == ["kid", "kid_std"]


def test_metric_options_and_reals_are_checked():
    with pytest.raises(ConfigError, match="no option 'nhoods'"):
        evaluate.SWDMetric({"nhoods": 3})
    with pytest.raises(ConfigError, match="must be int"):
        evaluate.SWDMetric({"batch_size": True})
    with pytest.raises(ConfigError, match="must be even"):
        evaluate.MSSSIMMetric({"batch_size": 7})
    with pytest.raises(ConfigError, match="unknown feature network"):
        evaluate.FIDMetric({"network": "nope"})
    generator = TinyGenerator()
    with pytest.raises(ConfigError, match="1 channels but the generator makes 3"):
        evaluate.SWDMetric().compute(generator, np.zeros((4, 32, 32, 1), np.uint8), num=4, seed=0)
    with pytest.raises(ConfigError, match="at most 32"):
        evaluate.SWDMetric().compute(generator, np.zeros((4, 64, 64, 3), np.uint8), num=4, seed=0)


def test_builtin_plugin_registers_the_four_metrics():
    from progan.builtin import metrics as plugin

    registered = {}
    plugin.progan_register_metrics(register=lambda name, factory: registered.setdefault(name, factory))
    assert list(registered) == ["swd", "msssim", "fid", "kid"]
    assert isinstance(registered["swd"]({}), evaluate.SWDMetric)


def test_run_metrics_creates_metrics_through_the_registry(monkeypatch):
    from progan import plugins

    monkeypatch.setattr(plugins, "_HOST", plugins.PluginHost(entry_points=False, modules=["progan.builtin.metrics"]))
    reals = smooth_images(8, 32, seed=0)
    results = evaluate.run_metrics(TinyGenerator(), reals, ["msssim", "fid"], num=8, seed=0,
                                   options={"msssim": {"reals": False}, "fid": {"network": "random-conv"}})
    assert list(results) == ["msssim", "fid"] and list(results["msssim"]) == ["msssim"]
    with pytest.raises(ConfigError, match="not run: kid"):
        evaluate.run_metrics(TinyGenerator(), reals, ["fid"], options={"kid": {}})
