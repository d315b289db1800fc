# Prototype (benchmark only, OVERLAP=1, with `streamfeat run -w 1`): one worker thread does every batch's Python work
# and hands the native apply_publish of a partition's batch to a helper thread, then goes on to the next partition's
# Kafka read, decoding and state reads while it runs; the batch is finished (rows handed to the online writer, states
# checked in, commit when due) before the next batch is handed over. At most one batch in flight per process.
# Only the single-view, packed-rows path of FeaturePipeline._process (the benchmark's); anything else runs unchanged.
import os, sys, threading
if os.environ.get("OVERLAP") and "run" in sys.argv:
    def _install():
        from concurrent.futures import ThreadPoolExecutor
        from streamfeat import compile as c, pipeline as p
        from streamfeat.pipeline import BatchReport, LateRecord, DeadLetter, Reason, decode_records, POS_INF
        from operators.view import gc_paused
        helper = ThreadPoolExecutor(1, thread_name_prefix="apply")
        slot = {"job": None}

        def begin(self, topic, partition, offsets, payloads, arrivals):
            """_process up to the native call; None when it must run whole (not the benchmark's path)."""
            runtimes = self._views.get(topic)
            if runtimes is None or len(runtimes) != 1 or not self._packs_rows:
                return None
            runtime = runtimes[0]
            op, cache = runtime.op, runtime.cache
            apply_publish = getattr(op, "apply_publish", None)
            if apply_publish is None:
                return None
            report = BatchReport(records=len(offsets))
            committed = self._uncommitted.get((topic, partition))
            if committed is None:
                committed = self.committed_offset(topic, partition)
            start = 0
            if committed is not None:
                while start < len(offsets) and offsets[start] < committed:
                    start += 1
            report.skipped = start
            if start == len(offsets):
                report.next_offset = committed
                return ("done", report)
            if start:
                offsets, payloads, arrivals = offsets[start:], payloads[start:], arrivals[start:]
            source = self._sources[topic]
            with gc_paused():
                decoded, dead = decode_records(source, runtime.view.entity.key, payloads, arrivals, topic=topic,
                                               partition=partition, offsets=offsets, arrival_field=self.arrival_field)
                report.dead_letters = dead
                if self._deadline != POS_INF and self._clock.now_ms() >= self._deadline:
                    self.commit()
                keys = decoded.keys
                distinct = dict.fromkeys(keys)
                states = cache.checkout(distinct)
                columns = op.columns_for(decoded.columns)
            at, horizon = self._publish_times()
            args = (states, keys, decoded.event_times, decoded.arrivals, columns, at, horizon, runtime.large,
                    self.large_state_bytes)
            return ("job", (self, topic, partition, offsets, payloads, report, runtime, decoded, keys, states, apply_publish, args))

        def finish(job, done):
            self, topic, partition, offsets, payloads, report, runtime, decoded, keys, states, _, _ = job
            cache = runtime.cache
            source = self._sources[topic]
            with gc_paused():
                result, entities, published = done
                rows = [self._packed_rows(runtime, entities, published)]
                cache.checkin(states)
                report.accepted[runtime.view.name] = result.accepted
                dead = report.dead_letters
                for i in result.late:
                    q = decoded.positions[i]
                    report.late.append(LateRecord(runtime.view.name, keys[i], decoded.event_times[i], decoded.arrivals[i],
                                                  topic, partition, offsets[q]))
                for i in sorted(set(result.too_far_ahead)):
                    q = decoded.positions[i]
                    dead.append(DeadLetter(Reason.TOO_FAR_AHEAD, f"event time {decoded.event_times[i]} is more than "
                                           f"{source.max_ahead} ms after arrival {decoded.arrivals[i]}", bytes(payloads[q]),
                                           topic, partition, offsets[q]))
                runtimes = [runtime]
                next_offset = offsets[-1] + 1
                report.published = self._with_retries(lambda: self._publish_rows(runtimes, rows), "publish to the online store")
                if self.rejects is not None and (report.dead_letters or report.late):
                    rejects = self.rejects
                    self._with_retries(lambda: rejects.write(report.dead_letters, report.late), "write dead letters")
                self._uncommitted[(topic, partition)] = next_offset
                if not self.commit_interval_ms or self._interval_passed() or runtime.cache.dirty_count >= self._dirty_limit:
                    self.commit()
                report.next_offset = next_offset
            return report

        def run_native(job):
            return job[10](*job[11])

        def progress_of(part, report, started):
            import time
            if report.next_offset is not None:
                part.position = report.next_offset
            lag = part.reader.cached_end_offset()
            part.metrics.batch(report, time.perf_counter() - started, None if lag is None else max(0, lag - part.position), None)
            part.metrics.committed(part.pipeline.committed_offset(part.topic, part.partition))
            part.batches += 1
            part._collector.after_batch()
            return [c.PartitionProgress(part.partition, report.records - report.skipped, sum(report.accepted.values()),
                                        len(report.late), len(report.dead_letters), report.published, report.next_offset)]

        def drain():
            held = slot["job"]
            if held is None:
                return []
            slot["job"] = None
            part, job, future, started = held
            return progress_of(part, finish(job, future.result()), started)

        from datetime import UTC, datetime, timedelta
        import time
        orig_next = c._FeaturePartition.next_batch
        orig_end = c._FeaturePartition._end
        orig_close = c._FeaturePartition.close

        def next_batch(self):
            if (self._stop is not None and self._stop.requested) or (self.end is not None and self.position >= self.end):
                drain()
                return orig_next(self)
            held = slot["job"]
            out = drain() if held is not None and held[0] is self else []
            batch = self.reader.read(self.config.batch_size, 0)
            self._awake = None if len(batch.offsets) >= self.config.batch_size else (
                datetime.now(UTC) + timedelta(seconds=self.config.poll_interval_s))
            if not batch.offsets:
                out += drain()
                if self.pipeline.commit_if_due():
                    self.metrics.committed(self.pipeline.committed_offset(self.topic, self.partition))
                return out
            started = time.perf_counter()
            begun = begin(self.pipeline, self.topic, self.partition, batch.offsets, batch.payloads, batch.timestamps)
            if begun is None or begun[0] == "done":
                out += drain()
                report = begun[1] if begun else self.pipeline.process(self.topic, self.partition, batch.offsets,
                                                                       batch.payloads, batch.timestamps)
                return out + progress_of(self, report, started)
            job = begun[1]
            out += drain()
            slot["job"] = (self, job, helper.submit(run_native, job), started)
            return out

        def _end(self):
            drain()
            return orig_end(self)

        def close(self):
            drain()
            return orig_close(self)

        c._FeaturePartition.next_batch = next_batch
        c._FeaturePartition._end = _end
        c._FeaturePartition.close = close

    import importlib.abc, importlib.machinery
    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "streamfeat.compile":
                sys.meta_path.remove(self)
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                orig_exec = spec.loader.exec_module
                def exec_module(module):
                    orig_exec(module)
                    _install()
                spec.loader.exec_module = exec_module
                return spec
            return None
    sys.meta_path.insert(0, _Finder())
