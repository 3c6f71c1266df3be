"""``disco-pyserini run``: an experiment configuration, stage by stage, skipping what is up to date."""

from __future__ import annotations

import argparse

from .options import add_java_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run an experiment configuration (a YAML file, or a shipped one by name)",
                            description="Topics -> encode -> index -> search (each mode) -> evaluate -> compare, "
                                        "skipping every stage whose output exists and matches the configuration. "
                                        "Relative paths the run reads are relative to the configuration's folder, "
                                        "paths it writes to the current folder.")
    parser.add_argument("config", metavar="CONFIG", nargs="?",
                        help="a YAML file, or the name of a shipped configuration (e.g. demo; see --list)")
    parser.add_argument("--list", action="store_true", help="list the shipped configurations and exit")
    parser.add_argument("--input-root", metavar="DIR",
                        help="read the configuration's relative input paths (corpus, topics, qrels) from DIR "
                             "instead of the configuration's folder; `--input-root .` reads them from the "
                             "current folder")
    parser.add_argument("--output-root", metavar="DIR",
                        help="write the configuration's relative output paths (collection, index, runs) under "
                             "DIR instead of the current folder")
    add_java_options(parser)
    parser.set_defaults(command=run)


def list_configs() -> str:
    from ..pipeline.config import CONFIG_DIR, config_description, shipped_configs

    shipped = shipped_configs()
    width = max(map(len, shipped), default=0)
    lines = [f"{name.ljust(width)}  {config_description(path)}" for name, path in shipped.items()]
    lines.append(f"(in {CONFIG_DIR}: `disco-pyserini run NAME` runs one; the dataset configurations read their "
                 f"files from --input-root DATA, see README.md there)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError, UsageError
    from ..pipeline.config import find_config, load_config, missing_inputs

    if args.list:
        print(list_configs())
        return 0
    if args.config is None:
        raise UsageError("give a configuration (a YAML file or a shipped name), or --list to see the shipped ones")
    path = find_config(args.config)
    config = load_config(path, input_root=args.input_root, output_root=args.output_root)
    missing = missing_inputs(config)
    if missing:
        key, first = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        where = "--input-root" if args.input_root is not None else "the configuration's folder"
        raise InputError(path, f"{key} {first} does not exist{more}",
                         fix=f"relative inputs are read from {where}: give --input-root DIR for the folder "
                             f"that holds them, or edit a copy of the configuration")
    from ..pipeline.run import run_experiment

    print(run_experiment(config, heap=args.java_heap, progress=not args.quiet))
    return 0
