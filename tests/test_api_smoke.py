from __future__ import annotations

from tests.factories import post_comment, read_thread


async def test_a_posted_comment_is_in_the_thread(client) -> None:
    posted = await post_comment(client, "Hello **world**", author_name="You can call me Al")
    page = await read_thread(client)
    assert page["thread"]["comment_count"] == 1
    [c] = page["comments"]
    assert c["id"] == posted["id"]
    assert c["author"] == {"name": "You can call me Al", "url": None}
    assert c["body_html"] == "<p>Hello <strong>world</strong></p>"
