"""Export a trained detector to ONNX or a torch.export program.

    python tools/deployment/export.py CONFIG CHECKPOINT --format onnx --out model.onnx
        [--shape H W] [--opset 18] [--simplify] [--cfg-options k=v ...]

The file holds the whole detector (backbone, neck, RPN with its NMS, every box and mask
stage, box decoding and per-class NMS) plus its config and class names: run it with
``detkit.deploy.OnnxDetector(FILE)`` or ``python tools/infer.py FILE - IMAGES --backend
onnxruntime``. Without ``--shape`` the graph takes any (padded) image size.
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="export a detkit detector")
    parser.add_argument("config", help="config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument(
        "--format",
        choices=["onnx", "exported-program"],
        default="onnx",
        help="onnx (ONNX Runtime) or exported-program (torch.export .pt2)",
    )
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="fixed padded input size (default: dynamic height and width)",
    )
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 16, default 18)")
    parser.add_argument(
        "--simplify",
        action="store_true",
        help="ONNX: one more onnxscript optimizer pass (off by default)",
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=detkit.DictAction,
        default={},
        help="override config settings, key=value",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    info = detkit.export(
        args.config,
        args.checkpoint,
        out=args.out,
        format=args.format,
        shape=args.shape,
        opset=args.opset,
        simplify=args.simplify,
        cfg_options=args.cfg_options,
    )
    print(
        f"{info['format']} written to {info['out']}: {info['bytes'] / 2**20:.1f} MiB in "
        f"{info['seconds']:.1f} s"
    )
    return info


if __name__ == "__main__":
    detkit.cli.run_cli(main, errors=(FileNotFoundError, ValueError, TypeError, RuntimeError))
