"""Kamailio as the 10010 hotline's SIP entry point: its configuration and the sipp
scenarios standing in for callers and queues (package data). The rig that runs them on
loopback is `loadtests/sip/harness.py`."""
