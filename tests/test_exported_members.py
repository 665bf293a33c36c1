"""The package root is the API: `__all__` lists exactly its public names, and each exists."""

from __future__ import annotations

import types

import cargo_verify


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(cargo_verify).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.add("__version__")
    assert set(cargo_verify.__all__) == public


def test_every_exported_name_exists() -> None:
    for name in cargo_verify.__all__:
        assert hasattr(cargo_verify, name), name
