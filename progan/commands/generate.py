"""``progan generate``: images from a checkpoint, export or run folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from progan.cli import pick_device
from progan.errors import ProganError


def add_parser(sub) -> None:
    generate = sub.add_parser("generate", help="sample images from a checkpoint, export or run folder")
    generate.add_argument("path", help="checkpoint file, export folder or run folder")
    generate.add_argument("--num", type=int, default=64)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", default="samples.png", help="grid PNG, or a folder with --separate")
    generate.add_argument("--separate", action="store_true", help="one PNG per image in the --out folder")
    generate.add_argument("--device", default="auto")
    generate.set_defaults(func=run)

def run(args: argparse.Namespace) -> int:
    from progan import images
    from progan.export import load_generator
    from progan.interfaces import latents

    if args.num < 1:
        raise ProganError("--num must be at least 1")
    G = load_generator(args.path, device=pick_device(args.device))
    pictures = []
    for start in range(0, args.num, 64):  # bounded memory for large --num
        z = latents(args.num, G.latent_size, seed=args.seed)[start : start + 64].to(next(G.parameters()).device)
        pictures.append(images.to_uint8(G(z)))
    import numpy as np

    batch = np.concatenate(pictures)
    out = Path(args.out)
    if args.separate:
        out.mkdir(parents=True, exist_ok=True)
        for i, picture in enumerate(batch):
            images.save_png(out / f"seed{args.seed}-{i:05d}.png", picture)
        print(f"progan: wrote {len(batch)} images to {out}/")
    else:
        images.save_png(out, images.grid(batch))
        print(f"progan: wrote a grid of {len(batch)} images to {out}")
    return 0


