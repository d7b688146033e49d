"""The fixed vocabularies of evaluation settings, in the lowest layer so that both the configuration (which refuses
a typo before anything runs) and the evaluation stages (which use them) read the same tuples."""

from __future__ import annotations

TIE_POLICIES = ("optimistic", "pessimistic", "expected")
V2T_MODES = ("all-captions", "legacy-group-max")
POSTPROCESSOR_NAMES = ("none", "dsl", "qbnorm")  # c2vbench.evaluation.postprocess.POSTPROCESSORS (a test keeps step)
