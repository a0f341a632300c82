#!/usr/bin/env bash
# Train ALT on N nodes × G GPUs under SLURM: one JAX process per node owning its G GPUs, joined
# by JAX's multi-process runtime (jax.distributed.initialize, called by alt_jax.main).
#
# Usage:
#   sbatch --nodes=N --gpus-per-node=G launch/gpu_slurm.sh --config=FILE --workdir=DIR \
#       [--python=PYTHON] [--port=PORT] [-- MAIN_FLAGS...]
#   bash launch/gpu_slurm.sh --dry-run --nodes=N --gpus-per-node=G --config=... --workdir=...
#
# Each process gets (alt_jax.main passes them to jax.distributed.initialize, since jax 0.10.2
# reads only the address from the environment itself):
#   JAX_COORDINATOR_ADDRESS  first node of the allocation : PORT (process 0 serves there)
#   JAX_NUM_PROCESSES        the number of nodes
#   JAX_PROCESS_ID           SLURM_PROCID of the task (0 .. N-1)
#   JAX_LOCAL_DEVICE_IDS     0,...,G-1: all the node's GPUs (without it jax's SLURM detection
#                            would give each process only GPU SLURM_LOCALID)
#
# Options:
#   --config=FILE[:ARG]   config file (required)
#   --workdir=DIR         checkpoints, metrics, reports: a filesystem every node sees, or gs://
#   --python=PYTHON       interpreter with the project installed  [python3]
#   --port=PORT           coordinator port  [20000 + SLURM_JOB_ID mod 10000]
#   --nodes=N, --gpus-per-node=G   default to the allocation's (needed with --dry-run outside
#                         a job)
#   --dry-run             print the environment and the srun command, run nothing
#   -- MAIN_FLAGS...      passed to alt_jax.main
#
# SIGTERM (120 s before the time limit, or on preemption) makes the trainer save a checkpoint and
# exit; `--requeue` restarts a preempted job, and a job resubmitted with the same --workdir
# resumes from the last checkpoint.
#SBATCH --job-name=alt-jax
#SBATCH --ntasks-per-node=1
#SBATCH --signal=TERM@120
#SBATCH --requeue
#SBATCH --output=alt_jax-%j.out
set -euo pipefail

DRY_RUN=0
CONFIG=""
WORKDIR=""
PYTHON="python3"
PORT=""
NODES="${SLURM_JOB_NUM_NODES:-}"
GPUS_PER_NODE="${SLURM_GPUS_PER_NODE:-}"
MAIN_FLAGS=()

usage() {
    sed -n '2,/^#SBATCH/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

die() {
    echo "gpu_slurm.sh: $*" >&2
    exit 2
}

# Prints a command (shell-quoted, so it can be pasted) and runs it unless --dry-run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [ "$DRY_RUN" = 0 ]; then
        "$@"
    fi
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --config=*) CONFIG="${1#*=}" ;;
        --workdir=*) WORKDIR="${1#*=}" ;;
        --python=*) PYTHON="${1#*=}" ;;
        --port=*) PORT="${1#*=}" ;;
        --nodes=*) NODES="${1#*=}" ;;
        --gpus-per-node=*) GPUS_PER_NODE="${1#*=}" ;;
        -h | --help) usage 0 ;;
        --) shift; MAIN_FLAGS=("$@"); break ;;
        *) echo "gpu_slurm.sh: unknown argument $1" >&2; usage 2 ;;
    esac
    shift
done

[ -n "$CONFIG" ] || die "--config is required"
[ -n "$WORKDIR" ] || die "--workdir is required"
[ -n "$NODES" ] || die "number of nodes unknown: run under sbatch --nodes=N, or pass --nodes"
[ -n "$GPUS_PER_NODE" ] || die "GPUs per node unknown: sbatch --gpus-per-node=G, or pass --gpus-per-node"
GPUS_PER_NODE="${GPUS_PER_NODE##*:}" # SLURM may write "type:count"

# Process 0 runs on the first node of the allocation and serves the coordinator there.
if [ -n "${SLURM_JOB_NODELIST:-}" ] && command -v scontrol >/dev/null; then
    COORDINATOR_HOST="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
elif [ "$DRY_RUN" = 1 ]; then
    COORDINATOR_HOST="FIRST_NODE_OF_THE_ALLOCATION"
else
    die "not inside a SLURM allocation (SLURM_JOB_NODELIST unset or no scontrol): submit with sbatch"
fi
PORT="${PORT:-$((20000 + ${SLURM_JOB_ID:-0} % 10000))}"

export JAX_COORDINATOR_ADDRESS="$COORDINATOR_HOST:$PORT"
export JAX_NUM_PROCESSES="$NODES"
JAX_LOCAL_DEVICE_IDS="$(seq -s, 0 $((GPUS_PER_NODE - 1)))"
export JAX_LOCAL_DEVICE_IDS
for name in JAX_COORDINATOR_ADDRESS JAX_NUM_PROCESSES JAX_LOCAL_DEVICE_IDS; do
    echo "export $name=${!name}"
done

# JAX_PROCESS_ID differs per task: each task's shell sets it from its own SLURM_PROCID.
# shellcheck disable=SC2016  # expanded by the task's shell, not this one
run srun --nodes="$NODES" --ntasks="$NODES" --ntasks-per-node=1 --kill-on-bad-exit=1 \
    bash -c 'export JAX_PROCESS_ID="$SLURM_PROCID"; exec "$@"' alt_jax \
    "$PYTHON" -m alt_jax.main --config="$CONFIG" --workdir="$WORKDIR" "${MAIN_FLAGS[@]}"
