"""Notebook 04's ``strict_cfg_options`` parameter: a ``cfg_options`` key the config lacks stops
the run naming the key and the closest existing one (the tools' ``--strict-cfg-options``)."""

from __future__ import annotations

import pytest


@pytest.mark.notebook
def test_nb04_strict_cfg_options_names_the_misspelt_key(tmp_path, run_notebook):
    papermill = pytest.importorskip("papermill")
    with pytest.raises(papermill.PapermillExecutionError) as error:
        run_notebook(
            "04_train_and_evaluate.ipynb",
            data_root=str(tmp_path / "none"),
            work_dir=str(tmp_path / "work"),
            cfg_options={"data.sample_per_gpu": 1},
            strict_cfg_options=True,
        )
    message = str(error.value)
    assert "KeyError" in message and "data.sample_per_gpu" in message
    assert "data.samples_per_gpu" in message  # the closest existing key
    assert not (tmp_path / "work").exists()  # stopped before anything was written
