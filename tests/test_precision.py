"""bf16 inference: native bf16 detected from the CPU (not assumed), said when emulated, and Linear weights stored
in bf16 once without changing what autocast computes."""

import numpy as np
import pytest
import torch

from robust_speech.model import precision


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from model_folders import save_random_model

    return save_random_model(tmp_path_factory.mktemp("bf16") / "model")


def test_cpu_bf16_units_are_read_from_torch_probes(monkeypatch):
    for amx, avx512_bf16, expected in ((True, False, True), (False, True, True), (False, False, False)):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda value=avx512_bf16: value, raising=False)
        assert precision.cpu_has_bf16_units() is expected
        assert precision.native_bf16(torch.device("cpu")) is expected
        note = precision.emulated_bf16_note(torch.device("cpu"))
        assert (note is None) is expected
    assert "AMX or AVX512-BF16" in note and "\n" not in note


def test_cpu_bf16_units_fall_back_to_the_kernel_flags_where_torch_has_no_probe(monkeypatch, tmp_path):
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    from robust_speech.core import cpu

    monkeypatch.setattr(cpu, "CPUINFO", str(cpuinfo))
    for flags, expected in (("fpu avx2 avx512f", False), ("fpu avx512f avx512_bf16", True), ("fpu amx_bf16", True)):
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n", encoding="ascii")
        assert precision.cpu_has_bf16_units() is expected
        assert cpu.cpu_model_and_flags() == ("Test CPU", flags.split())
    cpuinfo.unlink()
    assert precision.cpu_has_bf16_units() is False


def test_linear_weights_stored_in_bf16_give_the_logits_autocast_gives(tiny_folder):
    from robust_speech.model.acoustic import load_acoustic_model

    plain = load_acoustic_model(tiny_folder, "cpu")
    fast = load_acoustic_model(tiny_folder, "cpu", bf16=True)
    linears = [module for module in fast.model.modules() if isinstance(module, torch.nn.Linear)]
    assert fast.cpu_bf16 and linears and all(module.weight.dtype == torch.bfloat16 for module in linears)
    assert all(module.weight.dtype == torch.float32 for module in plain.model.modules()
               if isinstance(module, torch.nn.Linear))
    waves = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, (2, 24000)).astype(np.float32))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected, found = plain.model(waves).logits, fast.model(waves).logits
    assert found.dtype == torch.bfloat16
    assert torch.equal(found, expected)


def test_bf16_on_a_cpu_without_bf16_units_is_said_in_one_line_and_still_applied(tiny_folder, monkeypatch):
    from log_records import logged

    from robust_speech.model.acoustic import load_acoustic_model

    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: False, raising=False)
    with logged() as messages:
        emulated = load_acoustic_model(tiny_folder, "cpu", bf16=True)
    lines = [line for line in messages if "bf16" in line]
    assert len(lines) == 1 and lines[0].startswith("note: --bf16: this CPU has no bf16 units") and "\n" not in lines[0]
    assert emulated.cpu_bf16  # asked for: applied, not silently dropped
    with logged() as messages:
        load_acoustic_model(tiny_folder, "cpu")
    assert not [line for line in messages if "bf16" in line]


def test_store_linear_weights_counts_and_leaves_other_layers_alone():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 2))
    assert precision.store_linear_weights_in_bf16(model) == 2
    assert model[1].weight.dtype == torch.float32  # autocast keeps layer norms in float32
    assert precision.store_linear_weights_in_bf16(model) == 0  # already done
