"""Commands given a record of the wrong kind say so in one line, from the record's kind."""

from pathlib import Path

from tests.conftest import one_line_error as _one_line_error

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "records"
CMR = FIXTURES / "cmr_schema_v1.json"
CHINCHILLA = FIXTURES / "chinchilla_schema_v1.json"


def test_plan_compute_on_a_cmr_record(capsys):
    line = _one_line_error(capsys, ["plan", "compute", CMR, "--budget", "1e21"])
    assert line == (
        f"scalinglaws: error: {CMR} is a pipeline record (cmr); plan compute needs a law "
        "record with a compute-optimal frontier (use plan mixture)"
    )


def test_plan_mixture_on_a_chinchilla_record(capsys):
    line = _one_line_error(capsys, ["plan", "mixture", CHINCHILLA, "--tokens", "1e10"])
    assert line == (
        f"scalinglaws: error: {CHINCHILLA} is a law record (chinchilla); plan mixture needs "
        "a pipeline record (cmr) (a law record plans with plan compute or plan sparsity)"
    )
    assert "'E'" not in line  # not the law dict


def test_predict_on_a_cmr_record(capsys):
    line = _one_line_error(capsys, ["predict", CMR, "--N", "1e9", "--D", "1e10"])
    assert "is a pipeline record (cmr); predict needs a law record" in line
