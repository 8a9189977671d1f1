"""Notification channels: Apprise behind the notifier port, and the heartbeat ping."""
