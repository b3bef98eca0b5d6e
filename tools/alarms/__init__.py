"""``make alarms-test``: proves where an environment's alarms go, end to end."""
