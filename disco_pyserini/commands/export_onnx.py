"""``disco-pyserini export-onnx``: a SPLADE model's encoder as an ONNX graph for the ``onnx`` backend."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("export-onnx", help="export a SPLADE query model to ONNX (for --backend onnx)",
                            description="Export a SPLADE model (the masked LM, the max over tokens and "
                                        "log(1 + relu(.)) in one graph, dynamic batch and length) with its "
                                        "tokenizer files and a record of its source (disco_onnx.json). Pass the "
                                        "folder to --model with --backend onnx. Needs torch, transformers and onnx; "
                                        "--backend onnx also exports on first use, into the cache.")
    parser.add_argument("--model", required=True, help="preset (its query model), hub id or local folder")
    parser.add_argument("--side", choices=("query", "document"), default="query",
                        help="which model of a preset (default: query)")
    parser.add_argument("--output", required=True, metavar="DIR", help="the export folder to write")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..encode.onnx_export import export_onnx

    record = export_onnx(args.model, args.output, side=args.side)
    print(f"{args.output}: {record['source_model']} (weights {record['model_sha256'][:12]}), opset {record['opset']}, "
          f"largest difference from torch on probe texts {record['probe_max_abs_difference']:.2g}")
    return 0
