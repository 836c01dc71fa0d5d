"""Users are kept per (portal, id) under the change mark (storage/accounts.py): a change made
here, or by another node on the same database, is read at once."""

from __future__ import annotations

from tests.conftest import Env, other_node


def name_of(env: Env, user_id: int = 1) -> str:
    user = env.run(env.accounts.user, env.portal, user_id)
    assert user is not None
    return str(user.name)


def test_a_kept_user_never_outlives_a_change(env: Env) -> None:
    assert name_of(env) == "Ada"
    assert name_of(env) == "Ada"  # kept
    env.run(env.accounts.update_user, env.portal, 1, {"name": "Grace"})
    assert name_of(env) == "Grace"
    with other_node(env) as other:
        other.run(other.accounts.update_user, env.portal, 1, {"name": "Edsger"})
    assert name_of(env) == "Edsger"
    assert env.run(env.accounts.user, env.portal, 42) is None
    env.user("late", user_id=42)
    assert env.run(env.accounts.user, env.portal, 42) is not None
