#!/usr/bin/env bash
# Train ALT on a Cloud TPU VM or pod slice: create it, install the project on every worker,
# run `python -m alt_jax.main` on all workers (JAX's multi-process runtime joins them), stream
# the log of worker 0, stop or delete it.
#
# Usage: launch/tpu_vm.sh [--dry-run] [options] COMMAND... [-- MAIN_FLAGS...]
#
# Commands (run in the order given):
#   create   gcloud compute tpus tpu-vm create (--accelerator-type, --version, --spot)
#   setup    copy the committed project (git archive HEAD) to every worker and install it
#            with Python 3.11 and jax[tpu]; with --data-bucket also mount it with gcsfuse
#   train    start training on all workers in the background, then stream worker 0's log
#   logs     stream worker 0's log until training ends (--log-worker=all: every worker's)
#   stop     SIGTERM the training on all workers: they save a checkpoint and exit
#   delete   delete the TPU VM
#
# Options:
#   --name=NAME              TPU VM name (required)
#   --zone=ZONE              e.g. us-central2-b (required)
#   --accelerator-type=TYPE  v4-8 (one host), v4-32 (4 hosts), v5litepod-16, ...  [v4-8]
#   --version=RUNTIME        TPU software version  [tpu-ubuntu2204-base]
#   --project=PROJECT        GCP project (default: gcloud's configured project)
#   --spot                   create a Spot (preemptible) TPU; rerun `create setup train` with
#                            the same --workdir after a preemption and training resumes
#   --config=FILE[:ARG]      config file, relative to the repository root (required by train)
#   --workdir=gs://B/RUN     checkpoints, metrics, reports (required by train; gs:// so that
#                            every worker writes the same checkpoint and it outlives the VM)
#   --data-bucket=BUCKET     gcsfuse-mount gs://BUCKET at --data-mount on every worker
#   --data-mount=DIR         [/mnt/data]
#   --log-worker=N|all       whose log `logs`/`train` stream  [0]
#   --dry-run                print every command, run none
#   -- MAIN_FLAGS...         passed to alt_jax.main, e.g. --config.data.root=/mnt/data/tfds
#
# Example:
#   launch/tpu_vm.sh --name=alt --zone=us-central2-b --accelerator-type=v4-32 --spot \
#       --config=configs/k400.py --workdir=gs://my-bucket/alt-k400 --data-bucket=my-data \
#       create setup train -- --config.data.root=/mnt/data/tfds
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN=0
NAME=""
ZONE=""
ACCELERATOR_TYPE="v4-8"
VERSION="tpu-ubuntu2204-base"
PROJECT=""
SPOT=0
CONFIG=""
WORKDIR=""
DATA_BUCKET=""
DATA_MOUNT="/mnt/data"
LOG_WORKER="0"
COMMANDS=()
MAIN_FLAGS=()

# Remote paths, relative to each worker's home directory.
REMOTE_SRC="alt_jax_src"
REMOTE_VENV="alt_jax_venv"
REMOTE_LOG="alt_jax_train.log"
REMOTE_PID="alt_jax_train.pid"
ARCHIVE="${TMPDIR:-/tmp}/alt_jax_src.tar.gz"

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

die() {
    echo "tpu_vm.sh: $*" >&2
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

# The gcloud prefix of the TPU VM commands.
tpu() {
    local args=(gcloud compute tpus tpu-vm "$@" --zone="$ZONE")
    if [ -n "$PROJECT" ]; then
        args+=(--project="$PROJECT")
    fi
    run "${args[@]}"
}

# Runs a shell command on the given workers (`all` or an index).
on_workers() {
    local workers="$1" command="$2"
    tpu ssh "$NAME" --worker="$workers" --command="$command"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --name=*) NAME="${1#*=}" ;;
        --zone=*) ZONE="${1#*=}" ;;
        --accelerator-type=*) ACCELERATOR_TYPE="${1#*=}" ;;
        --version=*) VERSION="${1#*=}" ;;
        --project=*) PROJECT="${1#*=}" ;;
        --spot) SPOT=1 ;;
        --config=*) CONFIG="${1#*=}" ;;
        --workdir=*) WORKDIR="${1#*=}" ;;
        --data-bucket=*) DATA_BUCKET="${1#*=}" ;;
        --data-mount=*) DATA_MOUNT="${1#*=}" ;;
        --log-worker=*) LOG_WORKER="${1#*=}" ;;
        -h | --help) usage 0 ;;
        --) shift; MAIN_FLAGS=("$@"); break ;;
        create | setup | train | logs | stop | delete) COMMANDS+=("$1") ;;
        *) echo "tpu_vm.sh: unknown argument $1" >&2; usage 2 ;;
    esac
    shift
done

[ ${#COMMANDS[@]} -gt 0 ] || die "no command given (create setup train logs stop delete)"
[ -n "$NAME" ] || die "--name is required"
[ -n "$ZONE" ] || die "--zone is required"

do_create() {
    local args=(create "$NAME" --accelerator-type="$ACCELERATOR_TYPE" --version="$VERSION")
    if [ "$SPOT" = 1 ]; then
        args+=(--spot)
    fi
    tpu "${args[@]}"
}

do_setup() {
    # The committed tree only: what runs on the TPU is a known commit.
    run git -C "$REPO" archive --format=tar.gz --output="$ARCHIVE" HEAD
    tpu scp "$ARCHIVE" "$NAME:alt_jax_src.tar.gz" --worker=all
    # Ubuntu 22.04 ships Python 3.10; the project needs 3.11 (jammy-updates has it).
    local install
    install="set -e
sudo apt-get update -q
sudo apt-get install -y -q python3.11 python3.11-venv
rm -rf ~/$REMOTE_SRC && mkdir -p ~/$REMOTE_SRC
tar -xzf ~/alt_jax_src.tar.gz -C ~/$REMOTE_SRC
python3.11 -m venv ~/$REMOTE_VENV
~/$REMOTE_VENV/bin/pip install -q --upgrade pip
~/$REMOTE_VENV/bin/pip install -q -e ~/$REMOTE_SRC'[tpu]'"
    on_workers all "$install"
    if [ -n "$DATA_BUCKET" ]; then
        # array_record files are read through a gcsfuse mount (local-file reads for grain).
        local mount
        mount="set -e
if ! command -v gcsfuse >/dev/null; then
  echo 'deb [signed-by=/usr/share/keyrings/cloud.google.asc] https://packages.cloud.google.com/apt gcsfuse-jammy main' | sudo tee /etc/apt/sources.list.d/gcsfuse.list
  curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo tee /usr/share/keyrings/cloud.google.asc >/dev/null
  sudo apt-get update -q && sudo apt-get install -y -q gcsfuse
fi
sudo mkdir -p $DATA_MOUNT && sudo chown \$USER $DATA_MOUNT
mountpoint -q $DATA_MOUNT || gcsfuse --implicit-dirs $DATA_BUCKET $DATA_MOUNT"
        on_workers all "$mount"
    fi
}

do_train() {
    [ -n "$CONFIG" ] || die "train needs --config"
    [ -n "$WORKDIR" ] || die "train needs --workdir"
    # The command line of alt_jax.main, quoted for the remote shell.
    local main_cmd
    # shellcheck disable=SC2088  # the ~ is for the worker's shell to expand, not ours
    main_cmd="~/$REMOTE_VENV/bin/python$(printf ' %q' -m alt_jax.main \
        --config="$CONFIG" --workdir="$WORKDIR" "${MAIN_FLAGS[@]}")"
    # Detached (setsid + nohup): an ssh disconnect does not stop training. ALT_JAX_MULTIHOST=1
    # makes alt_jax.main call jax.distributed.initialize(), which finds the workers itself.
    local start="cd ~/$REMOTE_SRC && ALT_JAX_MULTIHOST=1 setsid nohup $main_cmd \
> ~/$REMOTE_LOG 2>&1 < /dev/null & echo \$! > ~/$REMOTE_PID"
    on_workers all "$start"
    do_logs
}

do_logs() {
    # Follows the log until the training process exits.
    on_workers "$LOG_WORKER" "tail --pid=\$(cat ~/$REMOTE_PID) -n +1 -f ~/$REMOTE_LOG"
}

do_stop() {
    on_workers all "kill -TERM \$(cat ~/$REMOTE_PID) 2>/dev/null || true"
}

do_delete() {
    tpu delete "$NAME" --quiet
}

for command in "${COMMANDS[@]}"; do
    "do_$command"
done
