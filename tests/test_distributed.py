"""Multi-process training on machines without a GPU: the flag that makes it data-parallel, and the check that the
processes trained one model (tests/test_training.py and tests/test_multinode.py run it under torchrun)."""

import pytest
import torch

from robust_speech.training import distributed


def launched(monkeypatch, **variables):
    for name in (*distributed.WORLD_SIZE_VARIABLES, "RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_a_cpu_only_multi_process_launch_trains_data_parallel(monkeypatch):
    monkeypatch.setattr(distributed, "accelerator_visible", lambda: False)
    said = []
    launched(monkeypatch, WORLD_SIZE="2", RANK="0")
    assert distributed.cpu_data_parallel_flags(["--x", "1"], said.append) == ["--x", "1", "--use_cpu"]
    assert said == ["note: 2 processes and no GPU: training data-parallel on the CPU over gloo (--use_cpu)"]
    # The other ranks add the flag without saying it again; one process, or --use_cpu given, is left alone.
    launched(monkeypatch, WORLD_SIZE="2", RANK="1")
    assert distributed.cpu_data_parallel_flags([], said.append) == ["--use_cpu"]
    launched(monkeypatch)
    assert distributed.cpu_data_parallel_flags(["--x"], said.append) == ["--x"]
    launched(monkeypatch, WORLD_SIZE="4")
    assert distributed.cpu_data_parallel_flags(["--use_cpu=true"], said.append) == ["--use_cpu=true"]
    launched(monkeypatch, OMPI_COMM_WORLD_SIZE="3")
    assert distributed.cpu_data_parallel_flags([], said.append) == ["--use_cpu"]
    assert len(said) == 2


def test_a_gpu_machine_keeps_accelerates_own_choice(monkeypatch):
    monkeypatch.setattr(distributed, "accelerator_visible", lambda: True)
    launched(monkeypatch, WORLD_SIZE="2")
    assert distributed.cpu_data_parallel_flags(["--x"], print) == ["--x"]


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


def test_the_checksum_stays_on_the_weights_device():
    # NCCL, the GPU backend, reduces only tensors on the GPU: a checksum moved to the CPU would fail there.
    model = torch.nn.Linear(4, 3, device="meta")
    assert distributed.weights_checksum(model).device.type == "meta"


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


def _agree_in_process(rank: int, init_file: str, seeds: tuple[int, int], outcomes: str) -> None:
    from pathlib import Path
    from types import SimpleNamespace

    import torch.distributed as dist

    from robust_speech.core.errors import RobustSpeechError

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.manual_seed(seeds[rank])
        trainer = SimpleNamespace(model=torch.nn.Linear(3, 2), args=SimpleNamespace(parallelism_config=None),
                                  is_fsdp_enabled=False, is_deepspeed_enabled=False)
        try:
            distributed.check_processes_agree(trainer)
            outcome = "agreed"
        except RobustSpeechError as error:
            outcome = str(error)
        Path(outcomes, str(rank)).write_text(outcome, encoding="utf-8")
    finally:
        distributed.leave_process_group()


@pytest.mark.parametrize("seeds", [(0, 0), (0, 1)], ids=["same weights", "different weights"])
def test_two_processes_compare_their_weights_over_gloo(tmp_path, seeds):
    import torch.multiprocessing as mp

    mp.spawn(_agree_in_process, args=(str(tmp_path / "init"), seeds, str(tmp_path)), nprocs=2)
    outcomes = [(tmp_path / str(rank)).read_text(encoding="utf-8") for rank in (0, 1)]
    if seeds[0] == seeds[1]:
        assert outcomes == ["agreed", "agreed"]
    else:  # every process learns it, not only the one whose weights are highest
        assert all("2 training processes ended with different weights" in outcome for outcome in outcomes)


def test_training_leaves_the_process_group_it_ran_in_even_when_it_fails(tmp_path, monkeypatch):
    """run.main destroys the default process group on the way out (success or a one-line error), rather than
    leaving gloo's teardown to interpreter shutdown."""
    import torch.distributed as dist

    from robust_speech.core.errors import ConfigurationError
    from robust_speech.training import run

    outcomes = iter([0, ConfigurationError("bad flag")])

    def joined_run(*args):
        dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(run, "_run", joined_run)
    for expected in (0, 2):
        (tmp_path / "store").unlink(missing_ok=True)
        assert run.main([], script="run_speech_recognition_ctc.py") == expected
        assert not dist.is_initialized()
