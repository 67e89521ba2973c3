"""Kamailio as the 10010 hotline's SIP entry point: its configuration, the sipp scenarios
standing in for callers and queues, and the harness that runs them on loopback (issue 10)."""
