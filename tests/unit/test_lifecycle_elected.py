"""Which master a restarted Sentinel-group node follows, from the sentinels' views."""

from redisops.address import Address
from redisops.lifecycle import _SentinelView, _settled_master

OLD, A, B = Address("127.0.0.1", 6400), Address("127.0.0.1", 6401), Address("127.0.0.1", 6402)


def view(addr: Address, epoch: int, failing_over: bool = False) -> _SentinelView:
    return _SentinelView(addr, epoch, failing_over)


def test_agreeing_sentinels_name_the_master_to_follow() -> None:
    assert _settled_master([view(A, 1)] * 3, OLD, give_up=False) == (True, A)


def test_agreement_on_the_node_itself_means_no_failover_happened() -> None:
    assert _settled_master([view(OLD, 0)] * 3, OLD, give_up=False) == (True, None)


def test_no_sentinel_reachable_leaves_the_node_as_configured() -> None:
    assert _settled_master([], OLD, give_up=False) == (True, None)


def test_disagreement_waits_even_when_a_majority_names_a_replica() -> None:
    # Epoch 1 promoted A and two sentinels say so; the epoch-2 leader promoted B.
    views = [view(A, 1), view(A, 1), view(B, 2, failing_over=True)]
    assert _settled_master(views, OLD, give_up=False) == (False, None)


def test_a_failover_in_progress_waits_even_when_all_agree() -> None:
    assert _settled_master([view(A, 1, failing_over=True)] * 3, OLD, give_up=False) == (False, None)


def test_past_the_deadline_the_highest_epoch_wins_over_the_majority() -> None:
    views = [view(A, 1), view(A, 1), view(B, 2, failing_over=True)]
    assert _settled_master(views, OLD, give_up=True) == (True, B)
