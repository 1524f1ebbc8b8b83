"""One module per fault family, each target's half side by side. Every module lists its
kinds in ``KINDS``; :mod:`chaosdrill.faults.registry` finds them there."""
