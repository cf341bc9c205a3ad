"""Operator mode: reconcile every ``ClusterSpec`` custom resource of a Kubernetes cluster.

``resources`` (pure) turns the spec models into the CRD and a resource into a spec;
``statuses`` (pure) turns a plan into the resource's status; ``reconciling`` runs one
check of one resource through the engine's workflow; ``handlers`` wires both into kopf;
``running`` starts the operator. See docs/operator.md.
"""
