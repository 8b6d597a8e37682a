#!/usr/bin/env bash
# Distributed testing with torchrun (MMDetection v2.28 tools/dist_test.sh):
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options, e.g. --eval bbox segm]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as tools/dist_train.sh.

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
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
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch \
    "${@:4}"
