"""The model's paths, parsed in one place: ``/v2/models/{name}[/versions/{version}]``, then
nothing (metadata), ``/ready`` or ``/infer``.

:func:`model_path` is what decides, for every request, whether it is one of the model's
routes, which one (the metrics' route label) and with what name and version. The same
templates (:data:`TEMPLATES`) document the routes in the OpenAPI schema (model_server.openapi),
and a test checks that the framework's router matches a template exactly where
:func:`model_path` gives it.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

Action = Literal["metadata", "ready", "infer"]

_MODEL = "/v2/models/{name}"
_VERSIONED = "/v2/models/{name}/versions/{version}"
_SUFFIX: dict[Action, str] = {"metadata": "", "ready": "/ready", "infer": "/infer"}
# A name or version is one path segment, as the router's ``{name}`` is.
_PATH = re.compile(r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?:/(?P<action>ready|infer))?")
# By (versioned, the path's last word if ready or infer): the route and its template, the
# low-cardinality label of the metrics.
_ROUTE: dict[tuple[bool, str | None], tuple[Action, str]] = {
    (versioned, suffix[1:] or None): (action, f"{_VERSIONED if versioned else _MODEL}{suffix}")
    for versioned in (False, True)
    for action, suffix in _SUFFIX.items()
}

METHOD: dict[Action, str] = {"metadata": "GET", "ready": "GET", "infer": "POST"}  # each route takes this one only
TEMPLATES: tuple[tuple[str, Action, bool], ...] = tuple(
    (template, action, versioned) for (versioned, _), (action, template) in _ROUTE.items()
)


class ModelPath(NamedTuple):
    name: str
    version: str | None  # None: the path names no version
    action: Action
    route: str  # the route's template, e.g. /v2/models/{name}/versions/{version}/infer


_new = tuple.__new__


def model_path(path: str) -> ModelPath | None:
    """The model route ``path`` is (any name and version: checking them is the route's
    job), or None when it is none of them."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    name, version, last = match.groups()
    action, route = _ROUTE[version is not None, last]
    # Every request is parsed: tuple.__new__ takes half the time of the generated ModelPath(...).
    return _new(ModelPath, (name, version, action, route))
