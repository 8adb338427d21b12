"""The shared validation helpers: named errors, ranges in words, the process's memory limit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from boltzkit import InvalidArgumentError, InvalidTypeError
from boltzkit._validate import as_bool, as_float, as_int, check_bytes, check_steps, memory_limit, range_words


def test_as_int_names_the_argument_and_states_the_range_in_words() -> None:
    assert as_int("n", np.int64(5), 1, 10) == 5
    with pytest.raises(InvalidTypeError, match=r"^n: expected an int, got bool"):
        as_int("n", True)
    with pytest.raises(InvalidTypeError, match=r"^n: expected an int, got float"):
        as_int("n", 1.0)
    with pytest.raises(InvalidArgumentError, match=r"^n: must be an int between 1 and 10, got 11"):
        as_int("n", 11, 1, 10)
    with pytest.raises(InvalidArgumentError, match=r"^n: must be an int at least 0, got -1"):
        as_int("n", -1, 0, None)
    with pytest.raises(InvalidArgumentError, match=r"^n: must be an int between 0 and 9223372036854775807"):
        as_int("n", 2**64)
    assert "None" not in range_words(None, 3) and "None" not in range_words(2, None)


def test_as_bool_and_as_float() -> None:
    assert as_bool("flag", np.bool_(True)) is True
    with pytest.raises(InvalidTypeError, match=r"^flag: expected True or False, got int"):
        as_bool("flag", 1)
    assert as_float("x", np.float32(0.5), 0.0, 1.0) == 0.5
    with pytest.raises(InvalidArgumentError, match=r"^x: must be a finite number"):
        as_float("x", float("nan"))
    with pytest.raises(InvalidArgumentError, match=r"^x: must be a finite number"):
        as_float("x", 10**400)
    with pytest.raises(InvalidArgumentError, match=r"^x: must be > 0"):
        as_float("x", 0.0, 0.0, lo_open=True)
    with pytest.raises(InvalidTypeError, match=r"^x: expected a real number, got complex"):
        as_float("x", 1j)


def test_check_steps_and_bytes() -> None:
    check_steps("n", 10, "ten steps")
    with pytest.raises(InvalidArgumentError, match=r"^num_reads: "):
        check_steps("num_reads", 2**62, "reads x sweeps x spins")
    with pytest.raises(InvalidArgumentError, match=r"^n: .*TiB of memory"):
        check_bytes("n", 2.0**60, "a huge buffer")


def test_the_cgroup_limit_is_reread_after_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cgroup limit is cached per process for a second, then read again."""
    from boltzkit import _validate as v

    reads: list[int] = []

    def fake() -> int:
        reads.append(1)
        return 5 * 2**30 + len(reads)

    monkeypatch.setattr(v, "_read_cgroup_limit", fake)
    monkeypatch.setattr(v, "_CGROUP_CACHE", {})
    clock = [1000.0]
    monkeypatch.setattr("boltzkit._validate.time.monotonic", lambda: clock[0])
    assert v._cgroup_limit() == 5 * 2**30 + 1
    clock[0] += 0.5
    assert v._cgroup_limit() == 5 * 2**30 + 1 and len(reads) == 1
    clock[0] += 0.6
    assert v._cgroup_limit() == 5 * 2**30 + 2 and len(reads) == 2
    assert v.memory_limit() is not None


def test_memory_limit_sees_rlimit_as() -> None:
    """Under a 3 GiB address-space limit the process may use less than 3 GiB, whatever the RAM."""
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY));"
        "from boltzkit._validate import memory_limit; print(memory_limit())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lim = int(out)
    assert 0 < lim < 3 * 2**30
    full = memory_limit()
    assert full is not None and full > lim
