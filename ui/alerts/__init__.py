"""The Qt half of the alerts: a thin adapter over the engine's alert service
(adapter), the tones (sound) and the widgets (banner)."""
