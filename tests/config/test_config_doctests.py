"""The usage examples in the config docstrings run as written."""

import doctest

import pytest

import detkit.config.config
import detkit.config.settings
import detkit.io


@pytest.mark.parametrize(
    ("module", "examples"),
    [(detkit.config.config, 5), (detkit.config.settings, 3), (detkit.io, 2)],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_module_docstring_examples(module, examples):
    result = doctest.testmod(module, raise_on_error=False)
    assert result.attempted >= examples and result.failed == 0
