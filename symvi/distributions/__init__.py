"""Distributions: ``Dist("name", ...)`` inside a model, ``Dist.dist(...)`` outside."""

from symvi.distributions.base import Continuous, Discrete, Distribution, dist_info
from symvi.distributions.unbounded import *  # noqa: F403
from symvi.distributions.positive import *  # noqa: F403
from symvi.distributions.bounded import *  # noqa: F403
from symvi.distributions.discrete import *  # noqa: F403
from symvi.distributions.multivariate import *  # noqa: F403
from symvi.distributions.mixture import *  # noqa: F403
from symvi.distributions.functions import *  # noqa: F403
from symvi.distributions.truncated import *  # noqa: F403
from symvi.distributions.censored import *  # noqa: F403
from symvi.distributions.custom import *  # noqa: F403
