"""``progan generate``: images, chosen seeds or a latent walk GIF from a checkpoint, export or run folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from progan.cli import pick_device
from progan.errors import ProganError

WALK_MIN_SIZE = 128  # walk frames are nearest-upscaled to at least this many pixels


def seed_list(text: str) -> list[int]:
    """``1,5,9`` or ``0-7,12`` as a list of non-negative seeds."""
    seeds = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            seeds.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seeds like 1,5,9 or 0-7") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"{text!r}: names no seeds (a range must run upwards, e.g. 0-7)")
    return seeds


def add_parser(sub) -> None:
    generate = sub.add_parser(
        "generate",
        help="sample images or a latent walk from a checkpoint, export or run folder",
        description="Images from the EMA generator: --seed S --num N (the images of G.sample(N, seed=S)), "
        "--seeds LIST (one image per seed), or --interpolate LIST (a looping GIF that walks through the seeds' latents).",
    )
    generate.add_argument("path", help="checkpoint file, export folder or run folder (its latest checkpoint)")
    choice = generate.add_mutually_exclusive_group()
    choice.add_argument("--seeds", type=seed_list, metavar="LIST", help="one image per seed, e.g. 1,5,9 or 0-15")
    choice.add_argument("--interpolate", type=seed_list, metavar="LIST", help="walk through these seeds' latents (spherically) and back, as an animated GIF")
    generate.add_argument("--num", type=int, help="images drawn with --seed (default 64)")
    generate.add_argument("--seed", type=int, help="seed of the --num images (default 0)")
    generate.add_argument("--frames", type=int, default=60, help="frames of the --interpolate GIF (default 60)")
    generate.add_argument("--frame-ms", type=int, default=50, help="milliseconds per GIF frame (default 50)")
    generate.add_argument("--resolution", type=int, help="an earlier trained stage of a checkpoint, e.g. 16 (default: the latest)")
    generate.add_argument("--out", help="grid PNG (default samples.png), folder with --separate (default samples/), GIF with --interpolate (default walk.gif)")
    generate.add_argument("--separate", action="store_true", help="one PNG per image in the --out folder")
    generate.add_argument("--device", default="auto", help="cpu, cuda, ... (default: cuda if present)")
    generate.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from progan import images
    from progan.export import load_generator
    from progan.interfaces import latents
    from progan.sampling import render, seed_latents, walk

    if (args.seeds or args.interpolate) and (args.num is not None or args.seed is not None):
        raise ProganError("--seed/--num draw their own latents; leave them out with --seeds or --interpolate")
    if args.interpolate and len(args.interpolate) < 2:
        raise ProganError("--interpolate needs at least two seeds, e.g. --interpolate 0,1,2")
    if args.interpolate and args.separate:
        raise ProganError("--interpolate writes one GIF; leave out --separate")
    num, seed = args.num if args.num is not None else 64, args.seed or 0
    if num < 1 or args.frames < 2 or args.frame_ms < 1:
        raise ProganError("--num must be at least 1, --frames at least 2 and --frame-ms at least 1")
    G = load_generator(args.path, resolution=args.resolution, device=pick_device(args.device))

    if args.interpolate:
        out = Path(args.out or "walk.gif")
        if out.suffix.lower() != ".gif":
            raise ProganError(f"--out {out}: --interpolate writes an animated GIF; name it *.gif")
        frames = render(G, walk(seed_latents(args.interpolate, G.latent_size), args.frames))
        images.save_gif(out, [images.grid(frame[None], min_cell=WALK_MIN_SIZE, pad=0) for frame in frames], duration_ms=args.frame_ms)
        print(f"progan: wrote a {len(frames)}-frame walk through seeds {','.join(map(str, args.interpolate))} to {out}")
        return 0

    if args.seeds:
        z, names = seed_latents(args.seeds, G.latent_size), [f"seed{s:04d}.png" for s in args.seeds]
    else:
        z, names = latents(num, G.latent_size, seed=seed), [f"seed{seed}-{i:05d}.png" for i in range(num)]
    batch = render(G, z)
    if args.separate:
        out = Path(args.out or "samples")
        for name, picture in zip(names, batch):
            images.save_png(out / name, picture)
        print(f"progan: wrote {len(batch)} images to {out}/")
    else:
        out = Path(args.out or "samples.png")
        images.save_png(out, images.grid(batch))
        print(f"progan: wrote a grid of {len(batch)} images to {out}")
    return 0
