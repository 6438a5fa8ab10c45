"""``progan export``: the EMA generator of a checkpoint as a standalone folder (safetensors, optionally ONNX)."""
from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    export = sub.add_parser(
        "export",
        help="write the EMA generator of a checkpoint to a folder (model.safetensors, config.json)",
        description="Writes DIR/model.safetensors (the EMA generator only), DIR/config.json and, with --format onnx, "
        "DIR/model.onnx. Load it with progan.load_generator(DIR). Needs no training data.",
    )
    export.add_argument("path", help="checkpoint file, run folder (its latest checkpoint) or export folder")
    export.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    export.add_argument("--resolution", type=int, help="an earlier trained stage, e.g. 16 (default: the latest)")
    export.add_argument("--format", default="safetensors", help="safetensors (default), or onnx to also write model.onnx (needs progan[onnx])")
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from progan.export import export

    done = export(args.path, args.out, resolution=args.resolution, format=args.format)
    resolution = done.spec.resolution
    print(f"progan: exported the {resolution}×{resolution} generator to {', '.join(map(str, done.files))}")
    if done.onnx_error is not None:
        print(f"progan: onnxruntime agrees with PyTorch (max difference {done.onnx_error:.1g})")
    trained = done.origin
    if trained.get("resolution") == resolution and trained.get("alpha", 1.0) < 1.0:
        print(f"progan: note: the checkpoint is mid-fade (alpha {trained['alpha']:.2f}); the export runs at alpha 1; --resolution {resolution // 2} gives the last stable stage")
    return 0
