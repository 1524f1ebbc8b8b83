"""The reference service: an LLM inference API as real processes on loopback.

edge -> gateway (one per DC) -> toxiproxy -> replicas (per AZ), gateway -> toxiproxy -> Redis;
an autoscaler decides replica counts and the supervisor applies them and restarts the dead.
"""
