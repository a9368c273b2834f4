"""``symvi.distributions.transforms`` is :mod:`symvi.transforms` (PyMC's
``pm.distributions.transforms.ordered`` and friends).

Importing this module replaces it in ``sys.modules`` by :mod:`symvi.transforms` itself, so
there is one transforms module whichever path user code takes.

Examples
--------
>>> import symvi as pm
>>> pm.distributions.transforms.ordered is pm.transforms.ordered
True
>>> from symvi.distributions.transforms import ordered
>>> ordered is pm.transforms.ordered
True
"""

import sys

from symvi import transforms as _transforms

sys.modules[__name__] = _transforms
