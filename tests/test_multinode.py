"""Multi-node training, on one machine: two launchers started side by side, each standing for one node with
one process, train one tiny model together (gloo on CPU), as the README's two-machine commands do with the
host names changed to localhost. Both `torchrun` with a c10d rendezvous and `accelerate launch` with the
shipped configs/accelerate_two_machines.yaml."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_training import train_argv

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ACCELERATE_CONFIG = ROOT / "configs" / "accelerate_two_machines.yaml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_together(commands, nodes, timeout=420) -> list[subprocess.CompletedProcess]:
    """Starts every command at once, each in its own node folder (its working directory and its datasets
    cache, as on a machine of its own), and waits for all; kills the rest when one hangs."""
    logs = [(tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")) for _ in commands]
    processes = []
    for command, node, (out, err) in zip(commands, nodes, logs):
        node.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "OMP_NUM_THREADS": "1", "HF_DATASETS_CACHE": str(node / "datasets-cache")}
        processes.append(subprocess.Popen([str(part) for part in command], stdout=out, stderr=err,
                                          stdin=subprocess.DEVNULL, env=env, cwd=node, start_new_session=True))
    deadline = time.monotonic() + timeout
    try:
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, 9)  # the launcher and its workers (own session)
                process.wait()
    results = []
    for process, (out, err) in zip(processes, logs):
        out.seek(0), err.seek(0)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out.read(), err.read()))
        out.close(), err.close()
    return results


# The same arguments on every node; the output folder is relative to the node's working directory (its own disk).
def training_args(corpus, config_json):
    argv = train_argv(corpus, config_json, "model", "--max_steps", "4", "--eval_strategy", "no", "--ddp_backend", "gloo",
                      "--max_batch_duration_s", "12")
    at = argv.index("--per_device_train_batch_size")  # duration batches replace the fixed batch size
    return [ROOT / "run_speech_recognition_ctc.py", *argv[:at], *argv[at + 2:]]


def assert_one_model_trained_by_two_nodes(results, nodes) -> int:
    """Both launchers succeeded, and the node of global rank 0 wrote one model that loads; returns that node."""
    if any(result.returncode != 0 for result in results):
        pytest.fail("\n".join(f"--- node {index}: exit {result.returncode}\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}"
                              for index, result in enumerate(results)))
    # Global rank 0 alone prints the data report and saves the model, on its own node.
    [main] = [index for index, result in enumerate(results) if "train: skipped 0 of 6 examples" in result.stdout]
    assert [index for index, node in enumerate(nodes) if (node / "model" / "model.safetensors").exists()] == [main]
    output_dir = nodes[main] / "model"
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [path.name for path in output_dir.glob("*.safetensors")] == ["model.safetensors"]
    # One process per node, so a world of 2 means both nodes trained in the same job.
    assert "world_size | 2" in (output_dir / "README.md").read_text(encoding="utf-8")

    import numpy as np
    import torch
    from transformers import AutoModelForCTC, AutoProcessor

    model, info = AutoModelForCTC.from_pretrained(output_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    processor = AutoProcessor.from_pretrained(output_dir)
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    with torch.no_grad():
        logits = model(**processor(audio, sampling_rate=16000, return_tensors="pt")).logits
    assert logits.shape[-1] == len(processor.tokenizer) and torch.isfinite(logits).all()
    return main


def test_two_torchrun_agents_train_one_model_together(small_corpus, tiny_config_json, tmp_path):
    nodes = [tmp_path / "node0", tmp_path / "node1"]
    # The same command on both; the same --rdzv_id and endpoint join them, and node ranks are assigned there.
    torchrun = [BIN / "torchrun", "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d",
                "--rdzv_endpoint", f"localhost:{free_port()}", "--rdzv_id", "tiny-ctc"]
    command = [*torchrun, *training_args(small_corpus, tiny_config_json)]
    results = launch_together([command, command], nodes)
    assert_one_model_trained_by_two_nodes(results, nodes)


def test_accelerate_launch_with_the_shipped_two_machine_config_trains(small_corpus, tiny_config_json, tmp_path):
    nodes = [tmp_path / "machine0", tmp_path / "machine1"]
    port = free_port()
    commands = [[BIN / "accelerate", "launch", "--config_file", ACCELERATE_CONFIG, "--machine_rank", str(rank),
                 "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
                 *training_args(small_corpus, tiny_config_json)] for rank in (0, 1)]
    results = launch_together(commands, nodes)
    assert assert_one_model_trained_by_two_nodes(results, nodes) == 0  # machine rank 0 holds global rank 0


def test_a_second_node_that_never_comes_is_an_error_not_a_hang(small_corpus, tiny_config_json, tmp_path):
    """One agent alone waits for its partner only as long as --rdzv_conf join_timeout, then fails."""
    torchrun = [BIN / "torchrun", "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d",
                "--rdzv_endpoint", f"localhost:{free_port()}", "--rdzv_id", "alone", "--rdzv_conf", "join_timeout=5"]
    started = time.monotonic()
    [result] = launch_together([[*torchrun, *training_args(small_corpus, tiny_config_json)]], [tmp_path / "alone"],
                               timeout=120)
    assert result.returncode not in (0, None) and time.monotonic() - started < 120
    assert "RendezvousTimeoutError" in result.stderr
    assert not (tmp_path / "alone" / "model").exists()
