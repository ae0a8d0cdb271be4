"""Settings arrive from JSON (config.json, --config): a field annotated ``int`` may hold
1.5, "abc" or true. Checked once where each settings dataclass is made, the mistake is a
ValueError naming the field, not a traceback from deep inside Keras or NumPy."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np

# Annotation (as written, under ``from __future__ import annotations``) -> accepted types
# (NumPy's scalars count: settings are often computed).
_SCALARS: dict[str, tuple[type, ...]] = {
    "int": (numbers.Integral,),
    "float": (numbers.Real,),
    "bool": (bool, np.bool_),
    "str": (str,),
}


def check_field_types(settings: Any) -> None:
    """Raise ValueError for the first scalar field whose value has another type (a bool is
    not taken for an int, nor an int for a bool); other annotations are left to the class."""
    for f in dataclasses.fields(settings):
        accepted = _SCALARS.get(str(f.type))
        if accepted is None:
            continue
        value = getattr(settings, f.name)
        is_bool = isinstance(value, bool | np.bool_)
        if not isinstance(value, accepted) or (is_bool and bool not in accepted):
            raise ValueError(f"{f.name} must be {f.type}, got {value!r}")
