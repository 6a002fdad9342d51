"""What readers see: the bar above the reference article, its JSON twin for the widget
(ETag, 304, fresh after every gift), the SVG image, the campaign page and its supporters."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from kibitz import reference
from kibitz.services import audit, bookkeeping
from kibitz.services import campaigns as camp
from tests.funding_factories import give, make_campaign

REF = "/2021/06/russia-is-strengthening-bases-in-kyrgyzstan-tajikistan"
SVG = "{http://www.w3.org/2000/svg}"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_reference_article_shows_the_june_2021_bar_above_its_title(
    make_client: Any,
) -> None:
    client = await make_client(site_name="SouthFront")
    await reference.load(client.kb)
    html = (await client.get(REF)).text
    bar_at, title_at = html.index('class="kb-funding"'), html.index('class="story-title"')
    assert bar_at < title_at
    bar = html[bar_at:title_at]
    ticks = re.findall(r'<text class="kb-funding-tick"[^>]*>([^<]+)</text>', bar)
    assert ticks == ["0 $", "2,500 $", "5,000 $"]
    assert '<span class="kb-funding-raised">1,660 $</span>' in bar
    assert '<span class="kb-funding-period">June 2021</span>' in bar  # CSS shows JUNE 2021
    assert "1,660 $ raised of 5,000 $ goal, June 2021" in text_of(bar)
    assert 'role="progressbar"' in bar and 'aria-valuenow="1660"' in bar
    assert 'aria-valuemax="5000"' in bar and 'aria-valuemin="0"' in bar
    assert 'aria-valuetext="1,660 $ raised of 5,000 $ goal, June 2021"' in bar
    assert '<svg class="kb-funding-graphic" width="100%" height="46" aria-hidden="true"' in bar
    assert 'width="33.20%"' in bar  # the fill
    # with no support_url, every "Support SouthFront" leads to kibitz's donation page
    assert html.count('href="/donate">Support SouthFront</a>') == 3


async def test_a_publisher_may_keep_their_own_support_page_and_hide_the_bar(
    make_client: Any,
) -> None:
    client = await make_client(site_name="SouthFront", support_url="https://example.org/give",
                               funding_bar=False)  # fmt: skip
    await reference.load(client.kb)
    html = (await client.get(REF)).text
    assert "kb-funding" not in html
    assert html.count('href="https://example.org/give">Support SouthFront</a>') == 3


async def test_the_json_twin_has_everything_the_widget_draws(make_client: Any) -> None:
    client = await make_client(site_name="SouthFront")
    await reference.load_funding(client.kb)
    response = await client.get("/api/v1/funding/southfront")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    bar = response.json()
    assert bar["raised"] == {"amount": 166000, "formatted": "1,660 $"}
    assert bar["goal"] == {"amount": 500000, "formatted": "5,000 $", "position": 1}
    assert [(t["label"], t["position"]) for t in bar["ticks"]] == [
        ("0 $", 0), ("2,500 $", 0.5), ("5,000 $", 1)]  # fmt: skip
    assert bar["period"]["label"] == "June 2021" and bar["period"]["key"] == "2021-06"
    assert bar["sentence"] == "1,660 $ raised of 5,000 $ goal, June 2021"
    assert bar["aria"] == {"valuemin": 0, "valuemax": 5000, "valuenow": 1660,
                           "valuetext": bar["sentence"]}  # fmt: skip
    assert (bar["fill"], bar["percent"], bar["exceeded"]) == (0.332, 33, False)
    assert bar["campaign"]["donate_url"] == "http://127.0.0.1:8000/donate?campaign=southfront"
    # the bar as the page draws it, for the widget to show as is: links that work elsewhere
    html = bar["html"]
    assert html.startswith('<section class="kb-funding"') and 'role="progressbar"' in html
    assert 'aria-valuetext="1,660 $ raised of 5,000 $ goal, June 2021"' in html
    assert '<a href="http://127.0.0.1:8000/funding/southfront">About this campaign</a>' in html
    assert '<a href="http://127.0.0.1:8000/donate?campaign=southfront">Donate</a>' in html
    assert bar["campaign"]["image_url"] == "http://127.0.0.1:8000/funding/southfront.svg"
    assert "email" not in response.text and "@" not in response.text
    assert (await client.get("/api/v1/funding")).json() == bar  # the featured campaign


async def test_the_json_answers_304_until_the_next_gift(make_client: Any) -> None:
    client = await make_client()
    c = await make_campaign(client.kb)
    first = await client.get("/api/v1/funding/support", params={"period": "2021-06"})
    etag = first.headers["etag"]
    again = await client.get("/api/v1/funding/support", params={"period": "2021-06"},
                             headers={"If-None-Match": etag})  # fmt: skip
    assert again.status_code == 304
    await give(client.kb, c, 2500)
    fresh = await client.get("/api/v1/funding/support", params={"period": "2021-06"},
                             headers={"If-None-Match": etag})  # fmt: skip
    assert fresh.status_code == 200 and fresh.json()["raised"]["amount"] == 2500


async def test_the_svg_comes_from_the_cache_with_an_etag_until_the_next_gift(
    make_client: Any,
) -> None:
    client = await make_client()
    await make_campaign(client.kb)
    url = "/funding/support.svg?period=2021-06"
    first = await client.get(url)
    etag = first.headers["etag"]
    assert first.status_code == 200 and "0 $ raised" in first.text
    assert first.headers["cache-control"] == "public, max-age=300"
    hits = client.kb.cache.stats.hits
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.kb.cache.stats.hits == hits + 1  # answered without reading the database
    assert (await client.get(url)).content == first.content
    # a gift recorded by hand (as from the dashboard or the CLI) shows at once
    await bookkeeping.record(client.kb, audit.SYSTEM, "support",
                             bookkeeping.ManualEntry(amount="25", date="2021-06-03"))  # fmt: skip
    fresh = await client.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert "25 $ raised" in fresh.text


async def test_each_month_shows_the_goal_it_had(make_client: Any) -> None:
    client = await make_client()
    c = await make_campaign(client.kb, goal=500000)
    await give(client.kb, c, 166000)
    await camp.update(client.kb, "support", camp.CampaignUpdate(goal=750000),
                      now=datetime(2021, 7, 10, tzinfo=UTC))  # fmt: skip
    june = (await client.get("/api/v1/funding/support", params={"period": "2021-06"})).json()
    assert (june["goal"]["amount"], june["sentence"]) == (
        500000, "1,660 $ raised of 5,000 $ goal, June 2021")  # fmt: skip
    assert [t["label"] for t in june["ticks"]] == ["0 $", "2,500 $", "5,000 $"]
    july = (await client.get("/api/v1/funding/support", params={"period": "2021-07"})).json()
    assert july["goal"]["formatted"] == "7,500 $"
    now = (await client.get("/api/v1/funding/support")).json()  # the current month
    assert now["goal"]["amount"] == 750000
    image = (await client.get("/funding/support.svg?period=2021-06")).text
    assert "1,660 $ raised of 5,000 $ goal, June 2021" in image
    page = text_of((await client.get("/funding/support")).text)
    assert "July 2021 0 $ 7,500 $ June 2021 1,660 $ 5,000 $" in page  # month by month


async def test_unknown_campaigns_and_periods_are_clear_errors(make_client: Any) -> None:
    client = await make_client()
    assert (await client.get("/api/v1/funding")).json()["error"]["code"] == "no_campaign"
    await make_campaign(client.kb)
    missing = await client.get("/api/v1/funding/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_such_campaign"
    bad = await client.get("/api/v1/funding/support", params={"period": "June"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "period"
    page = await client.get("/funding/nope", headers={"accept": "text/html"})
    assert page.status_code == 404 and "<!doctype html>" in page.text.lower()


async def test_the_svg_bar_for_newsletters(make_client: Any) -> None:
    client = await make_client(site_name="SouthFront")
    await reference.load_funding(client.kb)
    response = await client.get("/funding/southfront.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    root = ElementTree.fromstring(response.content)  # well-formed XML
    assert root.get("role") == "img" and root.get("aria-labelledby") == "t d"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["0 $", "2,500 $", "5,000 $", "1,660 $ raised", "JUNE 2021"]
    assert root.findtext(f"{SVG}desc") == "1,660 $ raised of 5,000 $ goal, June 2021"
    assert root.findtext(f"{SVG}title") == (
        "Support SouthFront: 1,660 $ raised of 5,000 $ goal, June 2021")  # fmt: skip
    track, fill = [r for r in root.iter(f"{SVG}rect")][1:3]
    assert abs(float(fill.get("width", 0)) / float(track.get("width", 1)) - 0.332) < 0.001


async def test_an_exceeded_goal_in_the_svg_and_the_page_says_so(make_client: Any) -> None:
    client = await make_client()
    c = await make_campaign(client.kb, goal=100000)
    await give(client.kb, c, 150000, public_name="Big <script>alert(1)</script> Giver")
    root = ElementTree.fromstring((await client.get("/funding/support.svg?period=2021-06")).content)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "1,500 $ raised · Goal exceeded" in texts
    html = (await client.get("/funding/support", params={"period": "2021-06"})).text
    assert "Goal exceeded</span>" in html and "(goal exceeded by 500 $)" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html


async def test_the_campaign_page_lists_named_supporters_and_past_months(make_client: Any) -> None:
    client = await make_client(site_name="SouthFront")
    c = await make_campaign(client.kb)
    await give(client.kb, c, 5000, public_name="Ada", message="Keep going",
               donor_email="ada@example.org")  # fmt: skip
    await give(client.kb, c, 5000, donor_name="Secret Donor", donor_email="s@example.org")
    html = (await client.get("/funding/support", params={"period": "2021-06"})).text
    assert "Supporters in June 2021" in html
    assert '<span class="supporter-name">Ada</span>' in html and "Keep going" in html
    assert "Secret Donor" not in html and "@example.org" not in html
    current = (await client.get("/funding/support")).text
    assert "Month by month" in current and 'href="/funding/support?period=2021-06"' in current
