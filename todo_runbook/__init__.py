"""todo_runbook: the helper package behind the runbook notebooks.

One module per concern. Step functions talk to real clients (Docker SDK, the Kubernetes API,
the helm/minikube/kind CLIs), never print, and return dataclasses; the notebooks display them
and the evidence store keeps them.
"""

__version__ = "0.1.0"
