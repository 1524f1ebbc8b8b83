"""The sandbox's real Prometheus and Alertmanager, and the webhook that records what they send.

Verdicts about mechanisms and about how fast people were told come from the tools a team
already trusts, so the sandbox runs the Debian binaries rather than an imitation. The
supervisor starts them as its children (they die with it); this package only renders their
configuration, builds their command lines, keeps the scrape targets current, and receives
Alertmanager's notifications.
"""
