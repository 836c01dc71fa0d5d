"""A live call this process stored is ended by its row id, reading back only the columns
that may change (``storage/calls.py``): whoever answered, ended or stored the call again
meanwhile, the call ended is the stored row."""

from __future__ import annotations

import contextlib
import dataclasses

from tests.conftest import other_node
from tests.services.conftest import calls_of, new_call
from trunkline.domain.calls import CallEnd, LiveCall


def finish_live(env, call_id, seen=None):
    return env.run(
        calls_of(env).finish_live,
        env.portal,
        call_id,
        CallEnd(user_id=1, duration=5),
        admit=None if seen is None else seen.append,
    )


def test_a_kept_call_answered_elsewhere_ends_answered(env):
    new = new_call(env)  # ringing: nobody answered it yet
    env.run(calls_of(env).register, env.portal, new)
    with other_node(env) as other:
        assert other.run(calls_of(other).answer, env.portal, new.call_id, 7)
    seen: list[LiveCall] = []
    record = finish_live(env, new.call_id, seen)
    assert record is not None and record.phone_number == new.phone_number
    assert seen[0].answered_by == 7 and seen[0].answered_at is not None
    assert isinstance(seen[0].started_at, float)


def test_a_kept_call_ended_elsewhere_is_not_found_here(env):
    new = new_call(env)
    env.run(calls_of(env).register, env.portal, new)
    with other_node(env) as other:
        assert finish_live(other, new.call_id) is not None
    assert finish_live(env, new.call_id) is None


def test_a_kept_call_rolled_back_then_stored_elsewhere_ends_as_stored(env):
    """A rolled-back insert gives its row id back on SQLite: another node may store the
    same CALL_ID with other values under that id, and ending it must end those."""
    calls = calls_of(env)
    new = new_call(env, phone="79780000001")

    async def rolled_back() -> None:
        with contextlib.suppress(RuntimeError):
            async with calls.repo.transaction() as tx:
                assert await calls.register(env.portal, new, conn=tx) is not None
                raise RuntimeError("rolled back")

    env.run(rolled_back)
    again = dataclasses.replace(new, phone_number="79780000002")
    with other_node(env) as other:
        assert other.run(calls_of(other).register, env.portal, again) is not None
    record = finish_live(env, new.call_id)
    assert record is not None and record.phone_number == "79780000002"
    assert finish_live(env, new.call_id) is None


def test_a_call_ended_by_its_live_call_is_kept_no_longer(env):
    """``finish`` with the LiveCall in hand (the simulator's way) forgets the kept call too,
    so calls that never go through ``finish_live`` do not fill the kept ones."""
    calls = calls_of(env)
    live = env.run(calls.register, env.portal, new_call(env))
    assert (env.portal.id, live.call_id) in calls.repo._live
    assert env.run(calls.finish, env.portal, live, CallEnd(user_id=1)) is not None
    assert (env.portal.id, live.call_id) not in calls.repo._live
