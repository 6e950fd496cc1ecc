"""Small models built in code for accuracy tests (values are arbitrary test inputs, not literature)."""

from pkpd import Model, Parameter
from pkpd.model import parameter_spec
from pkpd.model._registry import ABSORPTIONS, ELIMINATIONS, STRUCTURES


def make_model(structure="1cmt", absorption="first_order", elimination="linear", name="test", **values):
    defaults = dict(CL=0.3, V=3.0, Q=0.5, V2=2.5, ka=0.4, F=0.7, tlag=0.0,
                    Vmax=5.0, Km=2.0, R0=0.5, KSS=0.2, kint=0.8, kdeg=0.3)
    defaults.update(values)
    names = STRUCTURES[structure] + ABSORPTIONS[absorption] + ELIMINATIONS[elimination]
    extra = [n for n in values if n not in names]
    params = tuple(Parameter(n, defaults[n], parameter_spec(n).unit) for n in names) + \
        tuple(Parameter(n, values[n], parameter_spec(n).unit) for n in extra)
    return Model(name, structure, absorption, elimination, params)
