"""The usage examples in the config docstrings run as written."""

import doctest

import detkit.config.config


def test_config_module_docstring_examples():
    result = doctest.testmod(detkit.config.config, raise_on_error=False)
    assert result.attempted >= 4 and result.failed == 0
