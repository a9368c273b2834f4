"""Ordinary differential equations in models (PyMC's ``pm.ode``).

Examples
--------
>>> import symvi as pm
>>> ode = pm.ode.DifferentialEquation(lambda y, t, p: -p[0] * y[0], [1.0], n_states=1, n_theta=1)
>>> ode(y0=[1.0], theta=[1.0]).shape.eval().tolist()
[1, 1]
"""

from symvi.ode.ode import DifferentialEquation, ODESolve

__all__ = ["DifferentialEquation", "ODESolve"]
