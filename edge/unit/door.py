"""Optional door output: a relay pulse when the door policy (edge.unit.doorpolicy) opened the door.

gpiozero is imported only when the door output is enabled (on a Pi: ``sudo apt install
python3-gpiozero`` or ``pip install gpiozero lgpio``). Tests pass gpiozero's ``MockFactory``.
"""

from __future__ import annotations

import logging
from typing import Any

from edge.errors import ConfigError

log = logging.getLogger(__name__)


class DoorRelay:
    """Drives one GPIO pin (BCM numbering) high for ``pulse_s`` seconds, in the background."""

    def __init__(self, gpio_pin: int, pulse_s: float, *, pin_factory: Any = None):
        try:
            from gpiozero import DigitalOutputDevice  # type: ignore[import-untyped,unused-ignore]
        except ImportError as e:
            raise ConfigError(
                "door.enabled needs gpiozero: 'sudo apt install python3-gpiozero' on Raspberry Pi OS "
                "(or pip install gpiozero lgpio), or set door.enabled: false"
            ) from e
        self.pulse_s = pulse_s
        self.pulses = 0
        self._device = DigitalOutputDevice(gpio_pin, active_high=True, initial_value=False, pin_factory=pin_factory)

    def __enter__(self) -> DoorRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pulse(self, person: str) -> None:
        """Open the door once (the caller judged and audited the decision first)."""
        self._device.blink(on_time=self.pulse_s, off_time=0, n=1, background=True)
        self.pulses += 1
        log.info("door relay pulsed for %s (%.1f s)", person, self.pulse_s)

    def close(self) -> None:
        self._device.off()
        self._device.close()
