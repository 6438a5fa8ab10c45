"""Evaluation metrics: paper SWD and MS-SSIM, FID and KID over pluggable feature networks.

The one-call SWD is ``progan.metrics.swd.swd``; it is not re-exported here, where its name would hide
the ``progan.metrics.swd`` module.
"""
from progan.metrics.evaluate import generate_uint8, run_metrics
from progan.metrics.fid import (
    FeatureNetwork,
    feature_network,
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    register_feature_network,
)
from progan.metrics.msssim import ms_ssim, ms_ssim_pairs
from progan.metrics.swd import descriptors_for_swd, laplacian_pyramid, sliced_wasserstein, swd_floor

__all__ = [
    "FeatureNetwork",
    "descriptors_for_swd",
    "feature_network",
    "feature_statistics",
    "frechet_distance",
    "generate_uint8",
    "kernel_inception_distance",
    "laplacian_pyramid",
    "ms_ssim",
    "ms_ssim_pairs",
    "register_feature_network",
    "run_metrics",
    "sliced_wasserstein",
    "swd_floor",
]
