"""Dynamic batching (as Triton's dynamic batcher and MLServer's adaptive batching): the
infer requests that wait for the model are stacked along the batch dimension into one
onnxruntime call, up to ``max_rows`` rows, waiting at most ``max_delay_s`` after the first
for more, then the outputs are split back. Requests stack only with requests of the same
trailing shapes and requested outputs. If a stacked call fails, each of its requests runs
on its own: a bad request never fails the others of its batch.

With ``max_rows == 0`` (or a model without a dynamic first dimension) every request is
its own call. Either way the model runs on a worker thread (onnxruntime releases the
GIL), so the event loop keeps answering health checks and reading requests meanwhile;
except when this request is the only one in the batcher (still, after one turn of the loop
lets requests read with it arrive), nothing runs on the thread and the model's last call
took at most ``INLINE_MAX_S``: then it runs on the loop itself. The
thread hop (a futex wake of the worker, then of the loop, each a vCPU wake-up on a VM) cost
more than the model at one client (docs/model-server-benchmark.md), and a probe arriving
meanwhile waits at most about ``INLINE_MAX_S``.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from model_server.model import Array, OnnxModel
from model_server.protocol import InferRequest

Results = dict[str, Array]
Pending = tuple[InferRequest, "asyncio.Future[Results]"]

# The longest model call run on the event loop: what a health probe may wait behind it.
INLINE_MAX_S = 0.002


class Batcher:
    def __init__(
        self,
        model: OnnxModel,
        *,
        max_rows: int,
        max_delay_s: float,
        threads: int = 1,
        observe_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.model = model
        self.max_rows = max_rows if model.batchable else 0
        self.max_delay_s = max_delay_s
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="onnxruntime")
        self.threads = threads
        self.observe_batch = observe_batch or (lambda requests, rows: None)
        self.queue: collections.deque[Pending] = collections.deque()
        self.wake = asyncio.Event()  # a worker gathering a delayed batch waits on it for more
        self.idle: collections.deque[asyncio.Future[None]] = collections.deque()  # workers with nothing to do
        self.workers: list[asyncio.Task[None]] = []
        self.waiting = 0  # requests inside infer(), the caller's own included
        self.running = 0  # model calls on the executor now
        self.last_call_s = float("inf")  # unknown until a call is timed: the first one goes to the thread

    def start(self) -> None:
        if self.max_rows:
            self.workers = [asyncio.create_task(self._worker()) for _ in range(self.threads)]

    async def stop(self) -> None:
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self.executor.shutdown(wait=True)

    async def infer(self, request: InferRequest) -> Results:
        self.waiting += 1
        try:
            if not self.max_rows or request.rows >= self.max_rows:
                self.observe_batch(1, request.rows)
                return await self._run(request)
            future: asyncio.Future[Results] = asyncio.get_running_loop().create_future()
            self.queue.append((request, future))
            self._wake_one()
            return await future
        finally:
            self.waiting -= 1

    def _alone(self) -> bool:
        return self.waiting <= 1 and not self.running and self.last_call_s <= INLINE_MAX_S

    async def _run(self, request: InferRequest) -> Results:
        if self._alone():
            # Requests read in the same loop iteration as this one have not reached the batcher
            # yet: one yield lets them, so that under load the model runs on the threads, beside
            # the loop, instead of inline one after another on one core.
            await asyncio.sleep(0)
            if self._alone():
                return self._timed(request)
        self.running += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, self._timed, request)
        finally:
            self.running -= 1

    def _timed(self, request: InferRequest) -> Results:
        started = time.perf_counter()
        try:
            return self.model.run(request.inputs, request.outputs)
        finally:
            self.last_call_s = time.perf_counter() - started

    def _wake_one(self) -> None:
        """One idle worker, not all of them: with one per core, waking every worker for each
        request cost a task switch per worker and 0.1-0.2 ms at one client."""
        self.wake.set()
        while self.idle:
            waiter = self.idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _worker(self) -> None:
        while True:
            while not self.queue:
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self.idle.append(waiter)
                await waiter
            if self.max_delay_s > 0:
                deadline = asyncio.get_running_loop().time() + self.max_delay_s
                while sum(r.rows for r, _ in self.queue) < self.max_rows:
                    remaining = deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        break
                    self.wake.clear()
                    try:
                        await asyncio.wait_for(self.wake.wait(), remaining)
                    except TimeoutError:
                        break
            batch = self._take()
            if batch:
                await self._run_batch(batch)

    def _take(self) -> list[Pending]:
        """The oldest request and every later compatible one that fits in max_rows; the
        rest keep their places in the queue. A request whose client left is not run."""
        first = self.queue.popleft()
        batch, rows, key = [first], first[0].rows, first[0].batch_key()
        kept: collections.deque[Pending] = collections.deque()
        while self.queue:
            item = self.queue.popleft()
            if item[0].batch_key() == key and rows + item[0].rows <= self.max_rows:
                batch.append(item)
                rows += item[0].rows
            else:
                kept.append(item)
        self.queue = kept
        return [(r, f) for r, f in batch if not f.done()]

    async def _run_batch(self, batch: list[Pending]) -> None:
        self.observe_batch(len(batch), sum(r.rows for r, _ in batch))
        if len(batch) == 1:
            await self._settle(*batch[0])
            return
        requests = [r for r, _ in batch]
        stacked = InferRequest(
            {name: np.concatenate([r.inputs[name] for r in requests]) for name in requests[0].inputs},
            requests[0].outputs,
        )
        try:
            results = await self._run(stacked)
        except Exception:  # one bad request: run each alone, so only it fails
            await asyncio.gather(*(self._settle(r, f) for r, f in batch))
            return
        offsets = np.cumsum([0, *(r.rows for r in requests)])
        for (_, future), start, end in zip(batch, offsets[:-1], offsets[1:], strict=True):
            if not future.done():
                future.set_result({name: array[start:end] for name, array in results.items()})

    async def _settle(self, request: InferRequest, future: asyncio.Future[Results]) -> None:
        try:
            result = await self._run(request)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)
