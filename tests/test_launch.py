"""launch/: shellcheck, the commands the Cloud TPU and SLURM scripts print and run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

LAUNCH = Path(__file__).resolve().parents[1] / "launch"
TPU = LAUNCH / "tpu_vm.sh"
SLURM = LAUNCH / "gpu_slurm.sh"


def words(quoted: str) -> list[str]:
    """The words bash makes of a shell-quoted string (printf %q output may use $'...', which
    Python's shlex does not read); nothing is executed, the words are only printed."""
    out = subprocess.run(
        ["bash", "-c", f"args=( {quoted} ); printf '%s\\0' \"${{args[@]}}\""],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("\0")[:-1]


def printed_commands(stdout: str) -> list[list[str]]:
    """The argv of every `+ cmd ...` line of a --dry-run."""
    return [words(line[2:]) for line in stdout.splitlines() if line.startswith("+ ")]


def flag(argv: list[str], name: str) -> str:
    """The value of --name=value in argv."""
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    assert len(values) == 1, (name, argv)
    return values[0]


def fake_bin(tmp_path: Path, scripts: dict[str, str]) -> dict[str, str]:
    """An environment whose PATH starts with executables written from `scripts`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")


def test_shellcheck_passes_on_every_launch_script():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed: `make shellcheck` or apt-get install shellcheck")
    scripts = sorted(LAUNCH.glob("*.sh"))
    assert {p.name for p in scripts} >= {"tpu_vm.sh", "gpu_slurm.sh"}
    proc = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


TPU_ARGS = [
    "--name=alt",
    "--zone=us-central2-b",
    "--accelerator-type=v4-32",
    "--version=tpu-ubuntu2204-base",
    "--spot",
    "--config=configs/k400.py",
    "--workdir=gs://my-bucket/alt run",
    "create",
    "setup",
    "train",
    "stop",
    "delete",
    "--",
    "--config.data.root=/mnt/data/tfds",
    "--config.model.backbone.source=/weights/clip b16",
]


def test_tpu_dry_run_prints_every_command_and_runs_none(tmp_path):
    # A gcloud on PATH that records any call: a dry run must not make one.
    calls = tmp_path / "calls"
    env = fake_bin(tmp_path, {"gcloud": f'#!/bin/sh\necho "$@" >> {calls}\n'})
    proc = subprocess.run(
        ["bash", str(TPU), "--dry-run", *TPU_ARGS], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert not calls.exists()
    commands = printed_commands(proc.stdout)
    gcloud = [c for c in commands if c[0] == "gcloud"]
    assert [c[:4] for c in gcloud] == [["gcloud", "compute", "tpus", "tpu-vm"]] * len(gcloud)
    verbs = [c[4] for c in gcloud]
    assert verbs == ["create", "scp", "ssh", "ssh", "ssh", "ssh", "delete"]

    create = gcloud[0]
    assert create[5] == "alt" and "--spot" in create
    assert flag(create, "accelerator-type") == "v4-32"
    assert flag(create, "version") == "tpu-ubuntu2204-base"
    assert all(flag(c, "zone") == "us-central2-b" for c in gcloud)

    archive = next(c for c in commands if c[0] == "git")
    assert archive[-1] == "HEAD" and "archive" in archive
    scp, install, start, logs, stop = gcloud[1:6]
    assert flag(scp, "worker") == "all" and "alt:alt_jax_src.tar.gz" in scp
    assert flag(install, "worker") == "all"
    assert "pip install -q -e ~/alt_jax_src'[tpu]'" in flag(install, "command")

    # Training starts on every worker, detached, with the flags given (quoting survives).
    assert flag(start, "worker") == "all"
    remote = flag(start, "command")
    assert remote.startswith("cd ~/alt_jax_src && ALT_JAX_MULTIHOST=1 setsid nohup ")
    invocation = remote.split(" nohup ", 1)[1].split(" > ", 1)[0]
    assert words(invocation)[1:] == [
        "-m",
        "alt_jax.main",
        "--config=configs/k400.py",
        "--workdir=gs://my-bucket/alt run",
        "--config.data.root=/mnt/data/tfds",
        "--config.model.backbone.source=/weights/clip b16",
    ]
    assert flag(logs, "worker") == "0" and "tail --pid=" in flag(logs, "command")
    assert flag(stop, "worker") == "all" and "kill -TERM" in flag(stop, "command")
    assert gcloud[-1][5] == "alt"


def test_tpu_script_runs_what_the_dry_run_prints(tmp_path):
    calls = tmp_path / "calls.jsonl"
    recorder = (
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    env = fake_bin(tmp_path, {"gcloud": recorder})
    args = [a for a in TPU_ARGS if a not in ("setup", "train")]  # no git archive, no tail
    dry = subprocess.run(["bash", str(TPU), "--dry-run", *args], capture_output=True, text=True)
    real = subprocess.run(["bash", str(TPU), *args], capture_output=True, text=True, env=env)
    assert dry.returncode == 0 and real.returncode == 0, dry.stderr + real.stderr
    recorded = [["gcloud", *json.loads(line)] for line in calls.read_text().splitlines()]
    assert recorded == printed_commands(dry.stdout)


def test_tpu_script_refuses_a_train_without_workdir():
    proc = subprocess.run(
        ["bash", str(TPU), "--dry-run", "--name=a", "--zone=z", "--config=c.py", "train"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "--workdir" in proc.stderr


SLURM_ENV = dict(
    SLURM_JOB_ID="4242",
    SLURM_JOB_NUM_NODES="2",
    SLURM_GPUS_PER_NODE="h100:4",
    SLURM_JOB_NODELIST="gpu[017-018]",
)
FAKE_SCONTROL = (
    "#!/bin/sh\n[ \"$1 $2 $3\" = 'show hostnames gpu[017-018]' ] && printf 'gpu017\\ngpu018\\n'\n"
)


def test_slurm_dry_run_prints_the_distributed_environment_and_srun(tmp_path):
    env = fake_bin(tmp_path, {"scontrol": FAKE_SCONTROL, "srun": "#!/bin/sh\nexit 9\n"})
    env.update(SLURM_ENV)
    proc = subprocess.run(
        ["bash", str(SLURM), "--dry-run", "--config=configs/k400.py", "--workdir=/shared/run"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "export JAX_COORDINATOR_ADDRESS=gpu017:24242" in lines  # 20000 + 4242 mod 10000
    assert "export JAX_NUM_PROCESSES=2" in lines
    assert "export JAX_LOCAL_DEVICE_IDS=0,1,2,3" in lines
    (srun,) = printed_commands(proc.stdout)
    assert srun[0] == "srun" and flag(srun, "nodes") == "2" and flag(srun, "ntasks") == "2"
    assert flag(srun, "ntasks-per-node") == "1"
    tail = srun[srun.index("python3") :]
    assert tail == [
        "python3",
        "-m",
        "alt_jax.main",
        "--config=configs/k400.py",
        "--workdir=/shared/run",
    ]


def test_slurm_tasks_get_their_process_ids(tmp_path):
    """Under a fake srun that starts the tasks locally, each process sees the environment that
    alt_jax.main hands to jax.distributed.initialize."""
    srun = (
        "#!/bin/bash\nn=1\nwhile [[ $1 == --* ]]; do\n"
        "  case $1 in --ntasks=*) n=${1#*=} ;; esac; shift\ndone\n"
        'for ((i = 0; i < n; i++)); do SLURM_PROCID=$i "$@" & done\nwait\n'
    )
    python = (
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        "keys = ['JAX_COORDINATOR_ADDRESS', 'JAX_NUM_PROCESSES', 'JAX_PROCESS_ID',"
        " 'JAX_LOCAL_DEVICE_IDS']\n"
        f"path = {str(tmp_path)!r} + '/task' + os.environ['SLURM_PROCID'] + '.json'\n"
        "json.dump({'env': {k: os.environ[k] for k in keys}, 'argv': sys.argv[1:]},"
        " open(path, 'w'))\n"
    )
    env = fake_bin(tmp_path, {"scontrol": FAKE_SCONTROL, "srun": srun, "fakepython": python})
    env.update(SLURM_ENV)
    proc = subprocess.run(
        [
            "bash",
            str(SLURM),
            "--python=fakepython",
            "--config=c.py",
            "--workdir=gs://b/run",
            "--",
            "--config.batch_size=64",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    for task in range(2):
        got = json.loads((tmp_path / f"task{task}.json").read_text())
        assert got["env"] == {
            "JAX_COORDINATOR_ADDRESS": "gpu017:24242",
            "JAX_NUM_PROCESSES": "2",
            "JAX_PROCESS_ID": str(task),
            "JAX_LOCAL_DEVICE_IDS": "0,1,2,3",
        }
        assert got["argv"] == [
            "-m",
            "alt_jax.main",
            "--config=c.py",
            "--workdir=gs://b/run",
            "--config.batch_size=64",
        ]
