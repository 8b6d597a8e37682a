"""Slurm's view of a job step turned into torch.distributed's ``env://`` variables (mmcv
``_init_dist_slurm``).

A task started by ``srun`` knows its rank (``SLURM_PROCID``), the number of tasks
(``SLURM_NTASKS``), its index on the node (``SLURM_LOCALID``) and the job's nodes
(``SLURM_NODELIST``, compressed as ``node[01-04,07]``). The first node hosts the rendezvous:
``MASTER_ADDR`` is its name, found with ``scontrol show hostnames`` or, where ``scontrol`` is
missing or fails, by expanding the list here.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Mapping

import torch

__all__ = ["expand_hostlist", "first_host", "slurm_dist_env", "DEFAULT_PORT"]

DEFAULT_PORT = 29500  # torch.distributed's default, as mmcv

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _split_top_level(text: str) -> list[str]:
    """Split ``text`` on commas outside ``[...]``: ``'a[1-2],b3'`` -> ``['a[1-2]', 'b3']``."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"host list {text!r}: ']' without '['")
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth != 0:
        raise ValueError(f"host list {text!r}: '[' without ']'")
    parts.append(text[start:])
    return [part for part in parts if part]


def _expand_brackets(body: str, hostlist: str) -> list[str]:
    """``'01-03,07'`` -> ``['01', '02', '03', '07']`` (zero padding kept, as Slurm)."""
    values = []
    for item in body.split(","):
        match = _RANGE.match(item)
        if match is None:
            raise ValueError(f"host list {hostlist!r}: bad range {item!r} in [{body}]")
        low, high = match.group(1), match.group(2) or match.group(1)
        if int(high) < int(low):
            raise ValueError(f"host list {hostlist!r}: range {item!r} runs backwards")
        width = len(low)
        values += [str(n).zfill(width) for n in range(int(low), int(high) + 1)]
    return values


def expand_hostlist(hostlist: str) -> list[str]:
    """Expand a Slurm host list: ``'node[01-04,07]'`` -> ``node01 .. node04, node07``;
    ``'gpu-a[1-2],gpu-b3'`` -> ``gpu-a1, gpu-a2, gpu-b3``; several brackets in one name
    (``'r[1-2]n[1-2]'``) give every combination, in Slurm's order."""
    hosts: list[str] = []
    for part in _split_top_level(hostlist.strip()):
        pieces = re.split(r"\[([^\]]*)\]", part)  # text, bracket body, text, ...
        choices = [
            [piece] if i % 2 == 0 else _expand_brackets(piece, hostlist)
            for i, piece in enumerate(pieces)
        ]
        hosts += ["".join(combination) for combination in itertools.product(*choices)]
    return hosts


def first_host(nodelist: str) -> str:
    """The first host of ``nodelist`` by ``scontrol show hostnames`` (the cluster's own
    parser), else by :func:`expand_hostlist` when ``scontrol`` is missing or fails."""
    try:
        result = subprocess.run(
            ["scontrol", "show", "hostnames", nodelist],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        result = None
    if result is not None and result.returncode == 0 and result.stdout.split():
        return result.stdout.split()[0]
    hosts = expand_hostlist(nodelist)
    if not hosts:
        raise ValueError(f"SLURM_NODELIST {nodelist!r} names no host")
    return hosts[0]


def _tasks_per_node(environ: Mapping[str, str]) -> int | None:
    """Tasks on this node from ``SLURM_NTASKS_PER_NODE`` or ``SLURM_TASKS_PER_NODE``
    (``'2(x3),1'``: the first node's count)."""
    value = environ.get("SLURM_NTASKS_PER_NODE") or environ.get("SLURM_TASKS_PER_NODE")
    if not value:
        return None
    match = re.match(r"^(\d+)", value)
    return int(match.group(1)) if match else None


def _required_int(environ: Mapping[str, str], key: str) -> int:
    if key not in environ:
        raise KeyError(
            f"environment variable {key} is not set: start the script with srun "
            "(tools/slurm_train.sh / tools/slurm_test.sh) for --launcher slurm"
        )
    try:
        return int(environ[key])
    except ValueError:
        raise ValueError(f"environment variable {key}={environ[key]!r} is not an integer") from None


def slurm_dist_env(environ: Mapping[str, str], port: int | str | None = None) -> dict[str, str]:
    """torch.distributed's variables for this Slurm task: ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``.

    Local rank: ``SLURM_LOCALID``, else the rank modulo the node's task count, else modulo the
    visible GPUs (mmcv). Port: ``PORT`` env, else ``port`` (``dist_params.port``), else an
    exported ``MASTER_PORT``, else 29500. An exported ``MASTER_ADDR`` is kept (mmcv); else
    the first host of ``SLURM_NODELIST``.
    """
    rank = _required_int(environ, "SLURM_PROCID")
    world_size = _required_int(environ, "SLURM_NTASKS")
    if not 0 <= rank < world_size:
        raise ValueError(f"SLURM_PROCID={rank} is outside [0, SLURM_NTASKS={world_size})")
    if "SLURM_LOCALID" in environ:
        local_rank = _required_int(environ, "SLURM_LOCALID")
    else:
        per_node = _tasks_per_node(environ) or torch.cuda.device_count() or 1
        local_rank = rank % per_node
    master_port = (
        environ.get("PORT")
        or (str(port) if port is not None else None)
        or environ.get("MASTER_PORT")
        or str(DEFAULT_PORT)
    )
    if not master_port.isdigit():
        raise ValueError(
            f"master port {master_port!r} (PORT, dist_params.port or MASTER_PORT) is not a number"
        )
    master_addr = environ.get("MASTER_ADDR")
    if not master_addr:
        nodelist = (
            environ.get("SLURM_STEP_NODELIST")
            or environ.get("SLURM_NODELIST")
            or environ.get("SLURM_JOB_NODELIST")
        )
        if not nodelist:
            raise KeyError(
                "environment variable SLURM_NODELIST is not set (and no MASTER_ADDR): start with "
                "srun"
            )
        master_addr = first_host(nodelist)
    return {
        "RANK": str(rank),
        "WORLD_SIZE": str(world_size),
        "LOCAL_RANK": str(local_rank),
        "MASTER_ADDR": master_addr,
        "MASTER_PORT": master_port,
    }
