"""PyMC's path to the transforms: ``pm.distributions.transforms.ordered`` and friends.

Everything here is :mod:`symvi.transforms`' own objects (``ordered``, ``log``, ``logodds``,
``simplex``, ``Interval``, ``Chain``, ...), so ``transform=pm.distributions.transforms.ordered``
in a model is ``transform=pm.transforms.ordered``.

Examples
--------
>>> import symvi as pm
>>> pm.distributions.transforms.ordered is pm.transforms.ordered
True
>>> from symvi.distributions.transforms import ordered
>>> ordered is pm.transforms.ordered
True
"""

from symvi import transforms as _transforms
from symvi.transforms import *  # noqa: F403
from symvi.transforms import __all__  # noqa: F401


def __getattr__(name: str):
    """Names outside ``__all__`` (``OrderedTransform``, ``numeric_log_jac``, ...) as well."""
    return getattr(_transforms, name)
