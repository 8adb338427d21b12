"""The long fuzz profile: ``python benches/fuzz.py --cases 100000`` (see tests/fuzz/run.py).

Every case runs in a forked child with a timeout and an address-space limit; the table of outcomes
per entry point goes to stdout (and ``--json FILE``). The bounded profile runs in the test suite
(tests/fuzz/test_fuzz.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzz.run import main

if __name__ == "__main__":
    sys.exit(main())
