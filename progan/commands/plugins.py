"""``progan plugins``: every plugin with its package, version, the names it registers and its errors."""
from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    plugins = sub.add_parser("plugins", help="list plugins and the names they register", description="List every plugin; exit status 1 when one failed to load or register.")
    plugins.add_argument("--json", action="store_true", help="machine-readable output: a list of {name, package, version, names, hooks, error}")
    plugins.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from progan.plugins import host

    infos = list(host().info.values())
    if args.json:
        print(json.dumps([vars(i) for i in infos], indent=2, sort_keys=True))
    else:
        for info in infos:
            print(f"{info.name}  ({info.package} {info.version})")
            rows = [*info.names.items(), *([("hooks", info.hooks)] if info.hooks else [])]
            for label, names in rows:
                print(f"    {label:<14} {', '.join(names)}")
            if info.error:
                print(f"    ERROR          {info.error}")
    return 1 if any(info.error for info in infos) else 0
