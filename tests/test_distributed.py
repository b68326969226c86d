"""Multi-process training on machines without a GPU: the flag that makes it data-parallel, and the check that the
processes trained one model (tests/test_training.py and tests/test_multinode.py run it under torchrun)."""

import torch

from robust_speech.training import distributed


def test_a_cpu_only_multi_process_launch_trains_data_parallel(monkeypatch):
    monkeypatch.setattr(distributed, "accelerator_visible", lambda: False)
    said = []
    argv = distributed.cpu_data_parallel_flags(["--x", "1"], said.append, {"WORLD_SIZE": "2", "RANK": "0"})
    assert argv == ["--x", "1", "--use_cpu"]
    assert said == ["note: 2 processes and no GPU: training data-parallel on the CPU over gloo (--use_cpu)"]
    # The other ranks add the flag without saying it again; one process, or --use_cpu given, is left alone.
    assert distributed.cpu_data_parallel_flags([], said.append, {"WORLD_SIZE": "2", "RANK": "1"}) == ["--use_cpu"]
    assert distributed.cpu_data_parallel_flags(["--x"], said.append, {}) == ["--x"]
    assert distributed.cpu_data_parallel_flags(["--use_cpu=true"], said.append, {"WORLD_SIZE": "4"}) == ["--use_cpu=true"]
    assert distributed.cpu_data_parallel_flags([], said.append, {"OMPI_COMM_WORLD_SIZE": "3"}) == ["--use_cpu"]
    assert len(said) == 2


def test_a_gpu_machine_keeps_accelerates_own_choice(monkeypatch):
    monkeypatch.setattr(distributed, "accelerator_visible", lambda: True)
    assert distributed.cpu_data_parallel_flags(["--x"], print, {"WORLD_SIZE": "2"}) == ["--x"]


def test_the_checksum_tells_apart_models_that_differ_anyhow():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    same = torch.nn.Linear(4, 3)
    same.load_state_dict(model.state_dict())
    assert torch.equal(distributed.weights_checksum(model), distributed.weights_checksum(same))
    with torch.no_grad():
        same.weight.copy_(model.weight.flip(1))  # the same values in another order: equal sums
    assert distributed.weights_checksum(model)[0] == distributed.weights_checksum(same)[0]
    assert not torch.equal(distributed.weights_checksum(model), distributed.weights_checksum(same))
    with torch.no_grad():
        same.load_state_dict(model.state_dict())
        same.bias[0] += 1e-6
    assert not torch.equal(distributed.weights_checksum(model), distributed.weights_checksum(same))


def test_one_process_or_a_sharded_model_has_nothing_to_compare():
    from types import SimpleNamespace

    trainer = SimpleNamespace(model=torch.nn.Linear(2, 2), args=SimpleNamespace(parallelism_config=None),
                              is_fsdp_enabled=False, is_deepspeed_enabled=False)
    assert distributed.holds_whole_replicas(trainer)
    distributed.check_processes_agree(trainer)  # no process group: no error
    # Each process of FSDP, DeepSpeed ZeRO or tensor parallelism holds its own part: different by design.
    assert not distributed.holds_whole_replicas(SimpleNamespace(**{**vars(trainer), "is_fsdp_enabled": True}))
    assert not distributed.holds_whole_replicas(SimpleNamespace(**{**vars(trainer), "is_deepspeed_enabled": True}))
    tensor_parallel = SimpleNamespace(parallelism_config=object())
    assert not distributed.holds_whole_replicas(SimpleNamespace(**{**vars(trainer), "args": tensor_parallel}))
