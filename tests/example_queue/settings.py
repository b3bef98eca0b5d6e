"""``[example_queue]``: the settings of the example stack (no construct imported here)."""

from __future__ import annotations

from pydantic import Field

from modules.config.checks import Section
from modules.core.input_rules import MaxReceiveCount


class ExampleQueueSettings(Section):
    """The `example-queue` stack: a queue of jobs and its dead-letter queue."""

    max_receive_count: MaxReceiveCount = Field(default=5, description="deliveries of a job before it goes to the DLQ")
    dead_letter: bool = Field(
        default=True, description="false leaves the queue without a DLQ (the resilience policy refuses that)"
    )
