"""Run a detector on a folder of images: drawn images + one JSON of detections.

    python tools/infer.py CONFIG CHECKPOINT IMAGES_DIR --out-dir OUT [--score-thr 0.3]
        [--batch-size 2] [--device cpu] [--cfg-options k=v ...] [--strict-cfg-options]
        [--backend eager|onnxruntime|exported-program]

With ``--backend onnxruntime`` (or ``exported-program``) CHECKPOINT is the file written by
``tools/deployment/export.py``; CONFIG may be ``-`` to use the config stored in that file.

Writes ``OUT/<relative image path>`` (drawn) and ``OUT/detections.json``: a list of
``{"file": ..., "detections": [{"label": int, "class": str, "score": float,
"bbox": [x1, y1, x2, y2]}, ...]}`` (absolute pixels of the original image, xyxy).
"""

from __future__ import annotations

import argparse

import detkit

BACKENDS = ("eager", "onnxruntime", "exported-program")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="detkit inference on a folder of images")
    parser.add_argument("config", help="config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("images", help="image file or folder (searched recursively)")
    parser.add_argument(
        "--out-dir", required=True, help="where drawn images and detections.json go"
    )
    parser.add_argument(
        "--score-thr", type=float, default=0.3, help="minimum score kept (default 0.3)"
    )
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument("--device", default="cpu", help="device, e.g. cpu or cuda:0")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=detkit.DictAction,
        default={},
        help="override config settings, key=value",
    )
    parser.add_argument(
        "--strict-cfg-options",
        action="store_true",
        help="fail on a --cfg-options key the config does not have (default: warn)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="eager",
        help="eager (PyTorch model), onnxruntime (.onnx) or exported-program (.pt2)",
    )
    return parser.parse_args(argv)


def load_model(args: argparse.Namespace) -> object:
    """The eager model, or the exported detector of ``args.checkpoint``."""
    if args.backend == "eager":
        return detkit.init_detector(
            args.config, args.checkpoint, device=args.device, cfg_options=args.cfg_options
        )
    if args.cfg_options:
        raise ValueError(
            "--cfg-options apply to the eager backend; an exported graph has its settings built in"
        )
    config = None if args.config == "-" else args.config
    if args.backend == "onnxruntime":
        return detkit.deploy.OnnxDetector(args.checkpoint, config=config)
    return detkit.deploy.ExportedProgramDetector(args.checkpoint, config=config)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    model = load_model(args)
    json_file = detkit.infer_folder(
        model, args.images, args.out_dir, score_thr=args.score_thr, batch_size=args.batch_size
    )
    print(f"drawn images and {json_file} written")
    return json_file


if __name__ == "__main__":
    detkit.cli.run_cli(main)
