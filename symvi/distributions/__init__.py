"""Distributions: ``Dist("name", ...)`` inside a model, ``Dist.dist(...)`` outside."""

from symvi.distributions.base import Continuous, Discrete, Distribution, dist_info
from symvi.distributions.unbounded import *  # noqa: F403
from symvi.distributions.positive import *  # noqa: F403
from symvi.distributions.bounded import *  # noqa: F403
from symvi.distributions.discrete import *  # noqa: F403
from symvi.distributions.multivariate import *  # noqa: F403
from symvi.distributions.mixture import *  # noqa: F403
from symvi.distributions.timeseries import *  # noqa: F403
from symvi.distributions.student_walk import *  # noqa: F403
from symvi.distributions.sde import *  # noqa: F403
from symvi.distributions.skewed import *  # noqa: F403
from symvi.distributions.extreme_value import *  # noqa: F403
from symvi.distributions.unit_interval import *  # noqa: F403
from symvi.distributions.circular import *  # noqa: F403
from symvi.distributions.rice import *  # noqa: F403
from symvi.distributions.piecewise_linear import *  # noqa: F403
from symvi.distributions.point_mass import *  # noqa: F403
from symvi.distributions.discrete_weibull import *  # noqa: F403
from symvi.distributions.hypergeometric import *  # noqa: F403
from symvi.distributions.zero_inflated import *  # noqa: F403
from symvi.distributions.hurdle import *  # noqa: F403
from symvi.distributions.ordinal import *  # noqa: F403
from symvi.distributions.zerosum import *  # noqa: F403
from symvi.distributions.lkj import *  # noqa: F403
from symvi.distributions.multivariate_counts import *  # noqa: F403
from symvi.distributions.stick_breaking import *  # noqa: F403
from symvi.distributions.spatial import *  # noqa: F403
from symvi.distributions.matrix_variate import *  # noqa: F403
from symvi.distributions.functions import *  # noqa: F403
from symvi.distributions.truncated import *  # noqa: F403
from symvi.distributions.censored import *  # noqa: F403
from symvi.distributions.custom import *  # noqa: F403
from symvi import transforms  # noqa: F401 - pm.distributions.transforms.ordered, as in PyMC
