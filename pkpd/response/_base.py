r"""The response-model interface: parameters, a latent trajectory, and its link to improvement.

A response model maps each virtual patient's concentrations to a *latent level*
:math:`\ell(t)` (one per integration node: a patient type with its PK and PD values).
Patients of one node differ by a standard-normal score :math:`z` on that level, with the
model's ``spread`` :math:`\omega`: a patient's score is :math:`\ell(t) + \omega z`, and their
fractional improvement from baseline is ``improvement(score)``, increasing in the score.
An improvement threshold :math:`x` is therefore a cut :math:`\kappa_x` on the score
(``cut``), and

.. math:: P(\text{responder at } x \mid \text{node}) = \Phi\big((\ell(t) - \kappa_x)/\omega\big).

Endpoints at several thresholds are nested by construction (one score per patient), and a
response-guided rule splits each node's patients into intervals of :math:`z`
(:mod:`pkpd.endpoints`), so rates, rules and likelihoods work alike for every model.

Write a model by subclassing :class:`ResponseModel` and registering an instance with
:func:`pkpd.register_response_model`; model files then select it with ``[pd] type``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


class ResponseModel:
    """Base class of response models (see the module notes).

    Attributes
    ----------
    name : str
        The ``[pd] type`` that selects it.
    parameters : tuple of ParameterSpec
        Its parameters with internal units, domains (which set their transforms) and
        whether the engine individualises them (``individual``: may carry ``bsv_``).
    default_vary : tuple of str
        The parameters :func:`pkpd.fit` estimates unless told otherwise.
    spread_parameter : str
        The parameter that is the spread :math:`\\omega` of patients' scores within a node.
    scores : tuple of str
        Parameters whose between-subject scores (``bsv_X``) the model needs per node: they
        reach :meth:`latent` as ``values["score_X"]`` (0 where the model file gives no bsv).
    reduces_to : {type: {parameter: value}}
        Response models this one becomes when the parameters take those values (a model
        with the same equations has no restriction), so that a likelihood-ratio test can
        compare fits of the two (:func:`pkpd.compare_models`).
    """

    name: str = ""
    parameters: tuple = ()
    default_vary: tuple = ()
    spread_parameter: str = ""
    description: str = ""
    reduces_to: Mapping = {}
    scores: tuple = ()

    def latent(self, trajectory, values: Mapping) -> np.ndarray:
        """Latent level (node, time) at the trajectory's output times.

        ``trajectory`` (:class:`pkpd.response.Trajectory`) holds each node's exact
        concentrations (mg/L) at the output times (``trajectory.conc``) and at the nodes of
        an integration mesh, and solves turnovers on it exactly
        (``trajectory.first_order``, ``trajectory.first_order_hill``). ``values`` maps each
        parameter name to one float (all nodes) or an array (node,).
        """
        raise NotImplementedError

    def latent_draws(self, trajectory, draws: Sequence[Mapping]) -> np.ndarray:
        """Latent levels (draw, node, time) for several parameter sets; override to batch."""
        return np.stack([self.latent(trajectory, v) for v in draws])

    def spread(self, values: Mapping):
        """The spread of patients' scores within a node (> 0)."""
        return values[self.spread_parameter]

    def cut(self, thresholds) -> np.ndarray:
        """Score cuts of fractional-improvement thresholds (the inverse of :meth:`improvement`)."""
        raise NotImplementedError

    def improvement(self, score) -> np.ndarray:
        """Fractional improvement from baseline of a patient with this score."""
        raise NotImplementedError
