"""What the sweeper does beside sweeping (services.run_sweeper calls `tick` every round).

Its heartbeat, at most every BEAT_SECONDS, which /healthz reads as the last sweep's age;
and housekeeping when its turn comes (studio.ops.housekeeping), looked for at most every
minute. Neither ever raises into the sweep: a failure is logged and tried again later.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings

from studio.ops import heartbeat, housekeeping

log = logging.getLogger(__name__)

BEAT_SECONDS = 10.0
TURN_CHECK_SECONDS = 60.0


class SweeperChores:
    def __init__(self) -> None:
        self._beat_at = 0.0
        self._turn_at = 0.0

    def tick(self) -> None:
        clock = time.monotonic()
        if clock >= self._beat_at:
            self._beat_at = clock + BEAT_SECONDS
            try:
                heartbeat.beat(heartbeat.SWEEPER)
            except Exception:
                log.exception("The sweeper's heartbeat could not be recorded")
        every = settings.STUDIO_HOUSEKEEPING_INTERVAL
        if every > 0 and clock >= self._turn_at:
            self._turn_at = clock + min(TURN_CHECK_SECONDS, every)
            try:
                if housekeeping.take_turn(timedelta(seconds=every)):
                    housekeeping.run()
            except Exception:
                log.exception("Housekeeping failed")
