#!/usr/bin/env bash
# Distributed training with torchrun (MMDetection v2.28 tools/dist_train.sh):
#   tools/dist_train.sh CONFIG GPUS [train.py options]
# Multi-node: run on every node with NNODES, NODE_RANK (0 .. NNODES-1), MASTER_ADDR (node 0's
# address) and PORT set alike. PYTHON picks the interpreter (default: python).

CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --seed 0 \
    --launcher pytorch "${@:3}"
