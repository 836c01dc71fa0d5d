"""Registration's lookups kept under the change mark (storage/accounts.py, storage/crm.py):
a portal's inner numbers, and on SQLite whether it has CRM phones. A change made here, or
by another node on the same database, is read at once."""

from __future__ import annotations

from tests.conftest import Env, other_node


def inner(env: Env, number: str) -> int | None:
    store = env.app.store
    assert store is not None
    user = env.run(store.accounts.user_by_phone_inner, env.portal.id, number)
    return None if user is None else user.user_id


def crm_ids(env: Env, number: str) -> list[int]:
    store = env.app.store
    assert store is not None
    return [entity.id for entity in env.run(store.crm.by_phone, env.portal.id, number)]


def test_kept_inner_numbers_never_outlive_a_change(env: Env) -> None:
    assert inner(env, "555") is None
    assert inner(env, "555") is None  # kept
    env.run(env.accounts.update_user, env.portal, 1, {"phone_inner": "555"})
    assert inner(env, "555") == 1
    with other_node(env) as other:
        other.run(other.accounts.update_user, env.portal, 1, {"phone_inner": "556"})
    assert inner(env, "555") is None and inner(env, "556") == 1
    second = env.user("second", phone_inner="556")
    with other_node(env) as other:
        other.run(other.accounts.update_user, env.portal, 1, {"active": False})
    assert inner(env, "556") == second


def test_a_portal_with_more_inner_numbers_than_kept_reads_each(env: Env) -> None:
    store = env.app.store
    assert store is not None
    store.accounts.inner_cache_size = 2
    users = [env.user(f"u{n}", phone_inner=f"10{n}") for n in range(3)]
    assert [inner(env, f"10{n}") for n in range(3)] == users
    assert inner(env, "109") is None


def test_kept_crm_emptiness_never_outlives_a_change(env: Env) -> None:
    assert crm_ids(env, "79990001122") == []
    assert crm_ids(env, "79990001122") == []  # kept (SQLite)
    with other_node(env) as other:
        [entity_id] = other.run(
            other.app.services.crm.add_many,  # type: ignore[union-attr]
            env.portal,
            [{"type": "CONTACT", "name": "Ann", "phones": "79990001122"}],
        )
    assert crm_ids(env, "79990001122") == [entity_id]
