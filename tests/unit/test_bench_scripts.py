"""The benchmark scripts are not run by the tests (they are slow), so at
least make sure each one still compiles: a broken edit once went unnoticed."""

import py_compile
from pathlib import Path

import pytest

BENCH = sorted((Path(__file__).resolve().parents[2] / "bench").glob("*.py"))


def test_there_are_benchmarks():
    assert len(BENCH) >= 3


@pytest.mark.parametrize("script", BENCH, ids=lambda p: p.name)
def test_benchmark_script_compiles(script: Path):
    py_compile.compile(str(script), doraise=True)
