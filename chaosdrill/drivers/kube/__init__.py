"""The Kubernetes driver: ``client`` (a checked connection and shared calls), ``guards``
(context, kubeconfig and namespace checks), ``marks`` (the fault marks objects carry) and
``reads`` (typed reads for probes). Faults themselves live in :mod:`chaosdrill.faults.kinds`."""
