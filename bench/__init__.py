"""`make bench`: side-by-side ratios measured in one run on the local control plane.

One module per measure (`checkpoint_write`, `step_overhead`, `compression`, `start`, `resume`,
`scale`), each with `run(bench: BenchCluster) -> list[Row]`; `python -m bench [NAME ...]` runs them.
"""

import sys
from pathlib import Path

# The test harness (tests/support.py) and the test workflows, in this process as in the pods.
_REPO = Path(__file__).resolve().parents[1]
for _path in (_REPO / "tests", _REPO / "tests" / "workflows"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
