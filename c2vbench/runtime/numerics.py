"""What can make two CPU runs of the same configuration and seed differ, recorded in every result's ``env``.

"The same seed gives the same numbers" holds for one machine and one software build: every random choice is seeded,
and deterministic algorithms are requested. Across machines, floating-point sums can still come out in another order:
the number of intra-op threads splits a reduction into other partial sums, the CPU's instruction set (AVX2, AVX-512)
picks other kernels in oneDNN and the BLAS, and another BLAS or oneDNN build does the same. The last bits of a
gradient differ, training amplifies them, and a few test queries change rank. ``numeric_environment`` records each of
these so that two results that disagree can be told apart (docs/reliability.md has the measured spread).
"""

from __future__ import annotations

import platform
import re
from pathlib import Path
from typing import Any

# lines of torch.__config__.show() that name what computes (the rest is build flags)
_BUILD_LINES = re.compile(r"(Math Kernel Library|MKL-DNN|oneDNN|OpenBLAS|BLAS_INFO=\w+|LAPACK_INFO=\w+|"
                          r"CPU capability usage: \w+|OpenMP \d+)")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numeric_build() -> list[str]:
    """The libraries torch computes with (BLAS, LAPACK, oneDNN, OpenMP) and the CPU kernels it was built for."""
    import torch

    text = torch.__config__.show()
    found: list[str] = []
    for match in _BUILD_LINES.finditer(text):
        line = text[text.rfind("\n", 0, match.start()) + 1: text.find("\n", match.end())].strip(" -")
        piece = match.group(0) if "=" in match.group(0) else line
        if piece not in found:
            found.append(piece)
    return found


def numeric_environment() -> dict[str, Any]:
    """Threads, CPU, instruction set, numeric libraries and the deterministic-algorithms flag of this process."""
    import os

    import torch

    return {
        "intra_op_threads": torch.get_num_threads(),
        "inter_op_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "build": numeric_build(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "thread_variables": {name: os.environ[name] for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
                             if name in os.environ},
    }
