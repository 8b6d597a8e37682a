"""The rule for missing shared data (tests/shared_data.py): a parity test fails in CI and skips,
naming the path, elsewhere."""

import pytest
from shared_data import require_shared


def test_present_path_is_returned(tmp_path):
    assert require_shared(tmp_path) == tmp_path


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_missing_data_fails_in_ci(tmp_path, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="may not skip in CI") as info:
        require_shared(tmp_path / "golden")
    assert str(tmp_path / "golden") in str(info.value)


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_missing_data_skips_outside_ci(tmp_path, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="golden"):
        require_shared(tmp_path / "golden")
