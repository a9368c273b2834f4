"""Distributions: ``Dist("name", ...)`` inside a model, ``Dist.dist(...)`` outside."""

from symvi.distributions.base import Continuous, Discrete, Distribution, dist_info
from symvi.distributions.continuous import *  # noqa: F403
