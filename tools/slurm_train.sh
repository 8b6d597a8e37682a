#!/usr/bin/env bash
# Training on a Slurm cluster (MMDetection v2.28 tools/slurm_train.sh):
#   [GPUS=16] tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# GPUS: tasks in all (default 8); GPUS_PER_NODE: tasks per node (default 8); CPUS_PER_TASK
# (default 5); SRUN_ARGS: more srun options (e.g. "--requeue --time=2-0"); PORT: the rendezvous
# port (default dist_params.port, else 29500). GRES overrides --gres=gpu:GPUS_PER_NODE; set
# GRES= (empty) on CPU-only partitions. PYTHON picks the interpreter (default: python).
# Add --auto-resume to the train.py options so a requeued job continues from latest.pth.

set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
GRES=${GRES-gpu:${GPUS_PER_NODE}}
PYTHON=${PYTHON:-python}
PY_ARGS=("${@:5}")

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    ${GRES:+--gres="${GRES}"} \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/train.py" "${CONFIG}" --work-dir="${WORK_DIR}" --launcher="slurm" "${PY_ARGS[@]}"
