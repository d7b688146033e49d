"""The fine-tuning switches against the plain training loop: the same numbers where the switch is exact (batches
prepared ahead, activation checkpointing), within a stated bound where it is not (fp16 / bf16 autocast, with a grad
scaler for fp16), and ``--compile`` (to float32 rounding; opt-in here: compiling takes minutes on a CPU).

Each run fine-tunes the same tiny model (TDB + TAB) from the same initialisation for one epoch of two steps, and is
compared through the epoch's loss and parameter for parameter at the end. The precision bound is stated for one step
(:data:`c2vbench.runtime.precision.TRAINING_PRECISION_BOUND`): over a run, fp16's grad scaler skips the first steps
while it finds its scale, so whole runs differ by more than rounding.
"""

from __future__ import annotations

import os

import pytest
import torch
from _small_runs import dataset_cache, small_config
from test_distributed import TEST_DATASET

from c2vbench.runtime.precision import TRAINING_PRECISION_BOUND

CPU = torch.device("cpu")


def fine_tune(out, **overrides) -> tuple[list[float], dict[str, torch.Tensor], object]:
    """The epochs' losses and the final parameters of a short fine-tuning run with ``overrides``."""
    from c2vbench.model.assembly import assemble
    from c2vbench.pipeline import seed_everything
    from c2vbench.platform.registry import get_registry
    from c2vbench.runtime.progress import Reporter
    from c2vbench.training.compile import apply_execution_options
    from c2vbench.training.loop import train

    config = small_config(out, temporal="tdb", align="tab", epochs=1, batch_size=4, select_on="none",
                          dataset_options=dict(TEST_DATASET), device="cpu", **overrides)
    seed_everything(config.seed)
    assembly = assemble(config.assembly_plan(), get_registry())
    model = assembly.model
    apply_execution_options(model, config.compile, config.checkpoint_activations)
    summary = train(model, assembly.dataset.split("train"), None, assembly.sampling, config.training_plan(), CPU,
                    Reporter(quiet=True))
    parameters = {name: value.detach().clone() for name, value in model.state_dict().items()}
    return [epoch["loss"] for epoch in summary.history], parameters, model


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory, c2vbench_cache):
    """Batches prepared when each step asks, no checkpointing, float32: the reference."""
    with dataset_cache(c2vbench_cache):
        return fine_tune(tmp_path_factory.mktemp("plain"), prefetch_batches=0)


def assert_identical(run, reference) -> None:
    losses, parameters, _ = run
    expected_losses, expected_parameters, _ = reference
    assert losses == expected_losses
    assert parameters.keys() == expected_parameters.keys()
    for name, value in parameters.items():
        assert torch.equal(value, expected_parameters[name]), name


def test_batches_prepared_ahead_give_the_same_training(plain_run, tmp_path):
    assert_identical(fine_tune(tmp_path, prefetch_batches=2), plain_run)


def test_activation_checkpointing_gives_the_same_training(plain_run, tmp_path):
    run = fine_tune(tmp_path, checkpoint_activations=True)
    visual = run[2].backbone.clip.visual
    assert visual.transformer.grad_checkpointing  # the blocks really were recomputed
    assert_identical(run, plain_run)


def test_one_mixed_precision_step_stays_within_its_bound(tmp_path):
    """The loss and the gradient of one step under bf16 and fp16 autocast against float32, same model and batch."""
    from _distributed_worker import build_model, global_batch, small_settings

    from c2vbench.runtime.precision import autocast, effective_precision

    def step(which: str) -> tuple[float, torch.Tensor]:
        model = build_model(small_settings("tdb", "tab", TEST_DATASET, str(tmp_path)))  # seeded: same weights
        model.train()
        frames, frame_mask, input_ids, attention_mask = global_batch(model)
        torch.manual_seed(1)  # the same dropout
        with autocast(which, CPU):
            loss = model.loss(model.encode_text(input_ids, attention_mask), model.encode_video(frames, frame_mask))
        loss.backward()
        return float(loss.detach()), torch.cat([p.grad.flatten() for _, p in sorted(model.named_parameters())
                                                if p.grad is not None])

    reference_loss, reference_gradient = step("fp32")
    checked = 0
    for precision in ("bf16", "fp16"):
        if effective_precision(precision, CPU) != precision:
            continue  # this torch has no such autocast on the CPU
        loss, gradient = step(precision)
        bound = TRAINING_PRECISION_BOUND[precision]
        gradient_error = float((gradient - reference_gradient).norm() / reference_gradient.norm())
        # autocast really ran (not float32), and stayed close
        assert 0 < gradient_error <= bound["gradient_relative"], precision
        assert abs(loss - reference_loss) / abs(reference_loss) <= bound["loss_relative"], precision
        checked += 1
    if not checked:
        pytest.skip("this torch has neither bf16 nor fp16 autocast on the CPU")


def test_fp16_training_scales_its_loss_and_stays_finite(plain_run, tmp_path):
    """The whole loop under fp16: the grad scaler (on the CPU too) keeps every step finite."""
    from c2vbench.runtime.precision import effective_precision

    if effective_precision("fp16", CPU) != "fp16":
        pytest.skip("this torch has no fp16 autocast on the CPU")
    losses, parameters, _ = fine_tune(tmp_path, precision="fp16")
    assert all(torch.isfinite(torch.tensor(losses)))
    expected_parameters = plain_run[1]
    drift = max(float((parameters[name] - value).abs().max()) for name, value in expected_parameters.items()
                if value.is_floating_point())
    assert all(torch.isfinite(value).all() for value in parameters.values() if value.is_floating_point())
    assert 0 < drift <= TRAINING_PRECISION_BOUND["fp16"]["parameter_absolute_run"]


@pytest.mark.skipif(os.environ.get("C2VBENCH_TEST_COMPILE") != "1",
                    reason="compiling takes minutes on a CPU: set C2VBENCH_TEST_COMPILE=1 (the GPU script does)")
def test_a_compiled_step_agrees_to_float_rounding(tmp_path):
    """One step's loss and gradient with the backbone's encoders and the temporal module compiled, against eager.

    Compared per step: over a run, AdamW turns gradients near zero into updates of up to the learning rate, so
    rounding differences there would grow into parameter differences that say nothing about the compiler."""
    from _distributed_worker import build_model, global_batch, small_settings

    from c2vbench.training.compile import apply_execution_options

    def step(compiled: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor], object]:
        model = build_model(small_settings("tdb", "tab", TEST_DATASET, str(tmp_path)))  # seeded: same weights
        apply_execution_options(model, compile_model=compiled, checkpoint_activations=False)
        model.train()
        frames, frame_mask, input_ids, attention_mask = global_batch(model)
        torch.manual_seed(1)
        loss = model.loss(model.encode_text(input_ids, attention_mask), model.encode_video(frames, frame_mask))
        loss.backward()
        return loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}, model

    eager_loss, eager_gradients, _ = step(False)
    loss, gradients, model = step(True)
    assert "encode_frames" in vars(model.backbone)  # the compiled encoder shadows the method
    torch.testing.assert_close(loss, eager_loss, rtol=1e-5, atol=1e-6)
    assert gradients.keys() == eager_gradients.keys()
    for name, expected in eager_gradients.items():
        torch.testing.assert_close(gradients[name], expected, rtol=1e-3, atol=1e-5, msg=name)


def test_the_switches_are_recorded_but_keep_the_configuration(tmp_path):
    """How training executes is not what it computes: runs with and without a switch share a ``config_key`` (they
    are seeds of one configuration) and each result's ``config`` says which ran."""
    plain = small_config(tmp_path)
    switched = small_config(tmp_path, compile=True, checkpoint_activations=True, prefetch_batches=0)
    assert switched.config_key() == plain.config_key()
    assert switched.to_dict()["compile"] and switched.to_dict()["checkpoint_activations"]
    assert small_config(tmp_path, precision="bf16").config_key() != plain.config_key()  # precision is numeric


def test_checkpointing_a_backbone_that_cannot_is_one_clear_error():
    from types import SimpleNamespace

    from c2vbench.platform.errors import C2VBenchError
    from c2vbench.training.compile import apply_execution_options

    model = SimpleNamespace(backbone=torch.nn.Linear(2, 2))
    with pytest.raises(C2VBenchError, match="offers no activation checkpointing"):
        apply_execution_options(model, compile_model=False, checkpoint_activations=True)
