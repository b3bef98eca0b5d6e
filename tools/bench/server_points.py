"""What the model-server benchmark measures (tools.bench.server): the servers, the points
(server, clients, body) and the order each run measures them in."""

from __future__ import annotations

Point = tuple[str, int, str]  # (server, clients, body: json or binary)

EMF = "batching+EMF"
NO_PREDICTIONS = "EMF no pred"
PREDICTIONS = "EMF+pred"

# CloudWatch EMF on, to stdout (a file here), every second: 10x the default interval
_EMF_ON = {"EMF_NAMESPACE": "Bench/ModelServer", "EMF_INTERVAL_S": "1"}

SERVERS = {
    "no batching": {"MAX_BATCH_SIZE": "0"},
    "batching": {},  # the server's defaults: up to 128 rows per call, no added delay
    # The same with EMF on: the server's own metrics only, as before the prediction metrics
    EMF: {**_EMF_ON, "PREDICTION_METRICS": "off"},
    # The prediction metrics' pair: the same again in a process of its own, and with them on (the default)
    NO_PREDICTIONS: {**_EMF_ON, "PREDICTION_METRICS": "off"},
    PREDICTIONS: _EMF_ON,
}

# Each pair's "on" server -> its "off" server, and what the pair turns on
PAIRS = {EMF: "batching", PREDICTIONS: NO_PREDICTIONS}
PAIR_NAMES = {EMF: "EMF", PREDICTIONS: "prediction metrics"}

EMF_CLIENTS = (16, 64)

FRESH_EACH_RUN = ("batching", EMF, NO_PREDICTIONS, PREDICTIONS)  # the pairs: new processes every run

# Pairs per run at each EMF point: single 2-s pairs at 16 clients scatter by +-10 %, so the
# median of 5 is too coarse for a 3 % target; of 15 it is about 1.7 times finer.
EMF_PAIRS = 3

# (server, clients, body): both servers at every concurrency in JSON, each pair's "on" point right
# after its "off" point (their order swaps every other run), the targets' points in binary too
POINTS = (
    [("no batching", c, "json") for c in (1, 16, 64)]
    + [("batching", 1, "json")]
    + [p for c in EMF_CLIENTS for on, off in PAIRS.items() for p in ((off, c, "json"), (on, c, "json"))]
    + [("no batching", 1, "binary"), ("no batching", 16, "binary"), ("batching", 64, "binary")]
)


def in_order(run: int) -> list[Point]:
    """POINTS, each pair measured ``EMF_PAIRS`` times back to back, its order alternating
    from pair to pair and from run to run: neither side always runs second."""
    order: list[Point] = []
    for point in POINTS:
        if point[0] not in PAIRS:
            order.append(point)
            continue
        off = order.pop()  # the pair's "off" point, just before it in POINTS
        for k in range(EMF_PAIRS):
            order += [off, point] if (run + k) % 2 == 0 else [point, off]
    return order
