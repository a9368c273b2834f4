"""Distributions: ``Dist("name", ...)`` inside a model, ``Dist.dist(...)`` outside."""

from symvi.distributions.base import Continuous, Discrete, Distribution, dist_info
from symvi.distributions.continuous import *  # noqa: F403
from symvi.distributions.continuous2 import *  # noqa: F403
from symvi.distributions.discrete import *  # noqa: F403
from symvi.distributions.multivariate import *  # noqa: F403
from symvi.distributions.mixture import *  # noqa: F403
