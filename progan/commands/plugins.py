"""``progan plugins``: every plugin with its package, version and the names it registers."""
from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    plugins = sub.add_parser("plugins", help="list plugins and the names they register")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(func=run)

def run(args: argparse.Namespace) -> int:
    from progan.plugins import host

    infos = list(host().info.values())
    if args.json:
        print(json.dumps([vars(i) for i in infos], indent=2, sort_keys=True))
        return 0
    for info in infos:
        status = f"  ERROR: {info.error}" if info.error else ""
        print(f"{info.name}  ({info.package} {info.version}){status}")
        for kind, names in info.names.items():
            print(f"    {kind:<14} {', '.join(names)}")
    return 0


