from tests.conftest import make_buyer, make_config, sample


async def test_highest_bid_wins_a_parallel_tier(buyers, start_router):
    buyers.set("a", bid=20)
    buyers.set("b", bid=35.5)
    buyers.set("c", bid=None)
    config = make_config([make_buyer(n, buyers) for n in "abc"])
    router = await start_router(config)
    status, body, _ = await router.send(sample("mva-legal"))
    assert status == 200, body
    assert body["status"] == "sold"
    assert body["payout"] == 28.4
    assert "buyer_id" not in body and "price" not in body
    view = await router.admin(body["id"])
    assert view["buyer_id"] == "b" and view["price"] == 35.5
    print(view)
