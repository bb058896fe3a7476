"""Appliance devices: each an interface with real and simulated back-ends."""
