"""Shared pytest set-up: few torch threads (2-core CI machines), no GUI backend."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(1)
