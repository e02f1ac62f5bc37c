"""lampinn.loss: how named loss terms combine into the number an optimiser minimises."""
import pytest
import torch

from lampinn.loss import weighted_per_task, weighted_total

TERMS = {"residual": torch.tensor([1.0, 2.0, 3.0]), "boundary": torch.tensor([0.5, 0.0, 1.0])}


def test_per_task_sum_with_weights():
    per_task = weighted_per_task(TERMS, {"boundary": 10.0})
    assert torch.equal(per_task, torch.tensor([6.0, 2.0, 13.0]))
    assert weighted_total(TERMS, {"boundary": 10.0}).item() == pytest.approx(21.0)


def test_missing_weights_are_one():
    assert torch.equal(weighted_per_task(TERMS, None), torch.tensor([1.5, 2.0, 4.0]))
    assert torch.equal(weighted_per_task(TERMS, {}), weighted_per_task(TERMS, {"residual": 1.0, "boundary": 1.0}))
    assert weighted_total(TERMS, None).item() == pytest.approx(7.5)


def test_scalar_terms_and_gradients():
    w = torch.tensor(2.0, requires_grad=True)
    total = weighted_total({"residual": w**2, "boundary": 3 * w}, {"residual": 0.5})
    assert total.dim() == 0 and total.item() == pytest.approx(8.0)
    total.backward()
    assert w.grad.item() == pytest.approx(5.0)  # 0.5 * 2w + 3


def test_unknown_weight_names_the_terms():
    with pytest.raises(ValueError, match=r"^weights name unknown loss terms \['bc'\]; the terms are \['residual'\]$"):
        weighted_total({"residual": torch.tensor(1.0)}, {"bc": 2.0})
