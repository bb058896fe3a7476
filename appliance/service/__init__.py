"""The appliance as a systemd service: sd_notify, watchdog, health endpoint, metrics.

Nothing here knows about meetings or devices: the app feeds HealthState and the
watchdog heartbeats, and this package reports them to systemd and to admins.
Modules are imported one by one (``from appliance.service.notify import Notifier``)
so that ``salon-appliance status`` and ``check-config`` stay free of aiohttp.
"""
