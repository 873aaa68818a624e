"""Every component the test bed builds, in build order, and picking some of them by name.

The control plane and tools (:mod:`testcluster.components`), the node's add-ons
(:mod:`testcluster.node_components`), then what other areas' scripts build. Both lists import
:mod:`testcluster.build` for the component types; only this module imports both lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from testcluster.build import BuildError, Component, GoComponent
from testcluster.components import COMPONENTS as CONTROL_PLANE_COMPONENTS
from testcluster.components import SCRIPT_COMPONENTS
from testcluster.node_components import COMPONENTS as NODE_COMPONENTS
from testcluster.node_components import ON_DEMAND

# What a runbook run on the test bed needs: it starts the test bed without simulated nodes (so without kwok) and
# deploys with Helm 3. A cold `make runbook` compiles only these; the test suite builds everything.
RUNBOOK_NEEDS = ("kubernetes", "etcd", "crictl", "coredns", "metrics-server", "traefik", "helm")


def all_components() -> list[Component]:
    """Control-plane components, then the node's, then the script-built ones (names unique)."""
    found: list[Component] = [*CONTROL_PLANE_COMPONENTS, *NODE_COMPONENTS, *SCRIPT_COMPONENTS]
    by_name: dict[str, Component] = {}
    for component in found:
        if component.name in by_name and by_name[component.name] != component:
            raise BuildError(f"two different components are both named {component.name!r}; rename one of them")
        by_name[component.name] = component
    return list(by_name.values())


def select(components: Sequence[Component], names: Iterable[str]) -> list[Component]:
    """Components named by component name or by one of their binaries (``kubectl`` -> kubernetes); the
    on-demand ones (the registry) are built only when named."""
    wanted = list(names)
    if not wanted:
        return list(components)
    chosen: list[Component] = []
    for name in wanted:
        match = [
            c for c in [*components, *ON_DEMAND]  # on-demand ones (the registry) only when named
            if c.name == name or name in (c.packages if isinstance(c, GoComponent) else c.binaries)
        ]
        if not match:
            known = ", ".join(c.name for c in components)
            raise BuildError(f"unknown component {name!r}; known components: {known}")
        chosen += [c for c in match if c not in chosen]
    return chosen
