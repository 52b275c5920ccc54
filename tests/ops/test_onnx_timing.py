"""The latency figures of ``to-onnx``: onnxruntime and the source model timed in alternation,
so a change of machine load during the measurement hits both alike (issue 17)."""

from __future__ import annotations

from modeltool.ops.onnx_export.variants import interleaved_median_ms


def test_runners_alternate_after_their_warm_up() -> None:
    calls: list[str] = []
    medians = interleaved_median_ms({"onnx": lambda: calls.append("onnx"),
                                     "keras": lambda: calls.append("keras")},
                                    rounds=5, budget_s=60.0)
    assert calls[:4] == ["onnx", "onnx", "keras", "keras"]  # two warm-up calls each
    timed = calls[4:]
    assert timed == ["onnx", "keras"] * 5
    assert set(medians) == {"onnx", "keras"}
    assert all(value >= 0.0 for value in medians.values())


def test_at_least_three_rounds_whatever_the_budget() -> None:
    calls: list[str] = []
    interleaved_median_ms({"only": lambda: calls.append("only")}, rounds=50, budget_s=0.0)
    assert len(calls) == 2 + 3
