"""The SIP rig: Kamailio and sipp on loopback, driven against a callgate.

A test and load-test tool, not part of the shipped package."""
