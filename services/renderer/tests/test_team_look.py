"""A team's look (`RenderSpec.look`): two members' orders are rendered with identical requests, apart from the
adapter (and the request's idempotency key, which names the order); an order without a look keeps its own seeds."""

from __future__ import annotations

from headshots.v1 import common_pb2, events_pb2
from headshots_common import blob_layout, bus
from headshots_common.styles import NEGATIVE_PROMPT, STYLES, subject_phrase
from renderer.dispatcher import OrderRender

LOOK = common_pb2.RenderLook(
    prompt=STYLES["corporate-navy"].look_prompt(),
    negative_prompt=NEGATIVE_PROMPT,
    sampler="EulerDiscreteScheduler",
    num_inference_steps=30,
    guidance_scale=5.0,
    seed_base=123456789,
)


def _render(order_id: str, look: common_pb2.RenderLook | None) -> OrderRender:
    spec = common_pb2.RenderSpec(style_ids=["corporate-navy"], images_per_style=3, look=look)
    completed = events_pb2.TrainingCompleted(
        adapter_key=blob_layout.adapter_key(order_id, 1), subject_phrase=subject_phrase("person"), render_spec=spec
    )
    render = OrderRender.from_event(bus.new_event(order_id, training_completed=completed))
    assert render is not None
    return render


def _without_order(request):
    request = type(request).FromString(request.SerializeToString())
    request.ClearField("adapter")
    request.ClearField("request_id")
    return request


def test_two_members_of_a_team_get_the_same_render_request_but_their_adapters():
    alice, bob = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
    requests = [_render(order_id, LOOK).render_request() for order_id in (alice, bob)]
    assert requests[0].adapter.adapter_key != requests[1].adapter.adapter_key
    assert _without_order(requests[0]) == _without_order(requests[1])
    first = requests[0]
    assert (first.num_inference_steps, first.guidance_scale, first.sampler) == (30, 5.0, "EulerDiscreteScheduler")
    assert {item.prompt for item in first.items} == {LOOK.prompt.replace("{subject}", "sks person")}
    assert len({item.seed for item in first.items}) == 3  # a schedule of distinct seeds, the same for everyone
    top_ups = [_render(o, LOOK).top_up_request({"corporate-navy": 2}, 1) for o in (alice, bob)]
    assert _without_order(top_ups[0]) == _without_order(top_ups[1])
    assert not {i.seed for i in top_ups[0].items} & {i.seed for i in first.items}


def test_orders_without_a_look_keep_seeds_of_their_own():
    requests = [_render(o, None).render_request() for o in ("o-1", "o-2")]
    assert [i.seed for i in requests[0].items] != [i.seed for i in requests[1].items]
    assert all(not item.prompt for item in requests[0].items)
