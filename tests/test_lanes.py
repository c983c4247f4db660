"""Lanes (tuning.lanes): how many, threads in order at the same time, errors stop the others,
the finish lock, and each lane's own compiled packs."""
import threading

import numpy as np
import pytest

from qlsgan_tf import interrupts
from qlsgan_tf.study import presets
from qlsgan_tf.tuning import lanes


def settings(**kw):
    return presets.make_config("smoke", **kw).training_settings()


def test_lane_count_one_per_core_up_to_the_cap_and_one_for_single_runs(monkeypatch):
    monkeypatch.setattr(lanes.os, "sched_getaffinity", lambda _: {0, 1, 2, 3, 4})
    assert lanes.lane_count(settings()) == lanes.MAX_AUTO_LANES
    assert lanes.lane_count(settings(lanes=3)) == 3
    assert lanes.lane_count(settings(pack=1, lanes=3)) == 1
    monkeypatch.setattr(lanes.os, "sched_getaffinity", lambda _: {0})
    assert lanes.lane_count(settings()) == 1
    with pytest.raises(ValueError, match="lanes"):
        presets.make_config("smoke", lanes=-1)
    # Lanes change the schedule, not the results: a study resumes with other lanes.
    assert (presets.make_config("smoke", lanes=2).fingerprint()
            == presets.make_config("smoke").fingerprint())


def test_deal_gives_each_pack_to_the_least_loaded_lane():
    plan = lanes.deal(["a", "b", "c", "d"], [5, 4, 3, 1], 2)
    assert plan == [["a", "d"], ["b", "c"]]
    assert lanes.deal(["a"], [1], 3) == [["a"]]
    with pytest.raises(ValueError, match="lanes"):
        lanes.deal(["a"], [1], 0)


def test_run_runs_each_lane_in_order_at_the_same_time():
    seen, barrier = [], threading.Barrier(2, timeout=10)

    def work(lane, pack, should_stop):
        if pack == "first":
            barrier.wait()  # both lanes reach here together: they run at the same time
        seen.append((lane.index, pack, threading.current_thread().name))
        assert not should_stop()

    lanes.run([["first", "a1", "a2"], ["first", "b1"]], work)
    assert [p for lane, p, _ in seen if lane == 0] == ["first", "a1", "a2"]
    assert [p for lane, p, _ in seen if lane == 1] == ["first", "b1"]
    assert {name for _, _, name in seen} == {"qlsgan-lane-0", "qlsgan-lane-1"}
    seen.clear()
    lanes.run([["x", "y"]], work)  # one lane: in the caller's thread
    assert [(p, name) for _, p, name in seen] == [("x", "MainThread"), ("y", "MainThread")]


def test_an_error_in_one_lane_stops_the_others_and_is_raised():
    polling, stopped, done = threading.Event(), [], []

    def work(lane, pack, should_stop):
        if lane.index == 0:
            polling.wait(10)  # lane 1 is training its first pack
            raise RuntimeError(f"pack {pack} broke")
        polling.set()
        for _ in range(1000):  # a pack polls between epochs
            if should_stop():
                stopped.append(pack)
                raise lanes.LaneStoppedError()
            threading.Event().wait(0.01)
        done.append(pack)

    with pytest.raises(RuntimeError, match="pack p0 broke"):
        lanes.run([["p0"], ["p1", "p2"]], work)
    assert stopped == ["p1"] and done == []  # p2 never started

    def interrupted(lane, pack, should_stop):  # SIGINT seen by a lane's check
        if lane.index == 1:
            raise interrupts.StudyInterrupted("stop requested")

    with pytest.raises(interrupts.StudyInterrupted):
        lanes.run([["p0"], ["p1"]], interrupted)


def test_serialized_calls_run_one_at_a_time():
    inside, most, calls = [0], [0], []

    def finish(record):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        threading.Event().wait(0.005)
        calls.append(record)
        inside[0] -= 1

    finish_once = lanes.serialized(finish)
    lanes.run([[f"a{i}" for i in range(10)], [f"b{i}" for i in range(10)]],
              lambda lane, pack, should_stop: finish_once(pack))
    assert most[0] == 1 and len(calls) == 20


def test_lanes_own_their_packs_and_train_at_the_same_time_alike():
    spec = {"kind": "quantum", "n_qubits": 3, "n_layers": 2}
    critics = [(6, 4), (12, 8), (3, 5)]
    latents = np.random.default_rng(0).uniform(-0.8, 0.8, (40, 3)).astype(np.float32)
    packs = [lanes.lane(i).pack(spec, critics, 3, batch_size=16, n_critic=2) for i in (0, 1)]
    assert packs[0] is not packs[1]
    assert lanes.lane(1).pack(spec, critics, 3, batch_size=16, n_critic=2) is packs[1]
    assert lanes.lane(1).pack(spec, critics[:2], 3, batch_size=16, n_critic=2) is not packs[1]
    with pytest.raises(ValueError, match="lane"):
        lanes.lane(-1)
    seeds = [[11, 7, 5], [21, 17, 15]]
    alone = []
    for pack, lane_seeds in zip(packs, seeds):
        pack.reset(seeds=lane_seeds, c_lr=1e-3, g_lr=1e-3)
        alone.append(pack.train(latents, 3))
    together = [None, None]

    def work(lane, pack_seeds, should_stop):
        pack = lane.pack(spec, critics, 3, batch_size=16, n_critic=2)
        pack.reset(seeds=pack_seeds, c_lr=1e-3, g_lr=1e-3)
        together[lane.index] = pack.train(latents, 3)

    lanes.run([[seeds[0]], [seeds[1]]], work)
    for got, want in zip(together, alone):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert packs[0].trace_count == 1 and packs[1].trace_count == 1
    lanes.lane(0).clear()
    assert lanes.lane(0).pack(spec, critics, 3, batch_size=16, n_critic=2) is not packs[0]


def test_time_lanes_compiles_every_pack_once_before_timing_steps():
    from qlsgan_tf.tuning import packs

    study = settings(critic_capacities=[20, 120], lanes=2, batch_size=16)
    runs = packs.plan_runs(study, "c15@2")
    lanes.clear()
    first_s, step_s, timed = packs.time_lanes(study, "c15@2", runs, n_steps=2)
    assert first_s > 0.0 and step_s > 0.0
    assert sorted(r.key for chunk, _, _ in timed for r in chunk) == sorted(r.key for r in runs)
    # The timed steps reused the compiled packs: one trace per lane's pack shape.
    traced = [p for lane in (lanes.lane(0), lanes.lane(1)) for p in lane._packs.values()]
    assert traced and all(p.trace_count == 1 for p in traced)
    lanes.clear()
