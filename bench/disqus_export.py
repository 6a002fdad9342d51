"""Write a Disqus XML export of N comments (default 100,000) for timing `kibitz import`.

    python bench/disqus_export.py /tmp/disqus-100k.xml --comments 100000
    KIBITZ_DATABASE_URL=sqlite:////tmp/bench.db kibitz migrate
    /usr/bin/time -v env KIBITZ_DATABASE_URL=sqlite:////tmp/bench.db \
        kibitz import disqus /tmp/disqus-100k.xml --no-progress

Threads get 1 to 60 comments; about 40% are replies, nested up to 8 deep; 2% are deleted and
1% spam; bodies are HTML paragraphs with links, emphasis, quotes and non-ASCII text. Posts are
written in time order across all threads, as Disqus does.
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

WORDS = [
    "the",
    "base",
    "report",
    "russia",
    "defence",
    "analysis",
    "sources",
    "claim",
    "village",
    "front",
    "bridge",
    "supply",
    "convoy",
    "мост",
    "фронт",
    "日本",
    "données",
    "énergie",
    "naïve",
]


def body(rng: random.Random) -> str:
    paras = []
    for _ in range(rng.randint(1, 3)):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 40))]
        if rng.random() < 0.3:
            words[2] = f"<b>{words[2]}</b>"
        if rng.random() < 0.2:
            words[4] = f'<a href="https://example.org/{words[4]}" rel="nofollow">{words[4]}</a>'
        paras.append("<p>" + " ".join(words) + ".</p>")
    if rng.random() < 0.1:
        paras.insert(
            0, "<blockquote><p>" + " ".join(rng.choices(WORDS, k=12)) + "</p></blockquote>"
        )
    return "".join(paras)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    posts = []  # (time, thread, id, parent, depth)
    thread_ids: list[int] = []
    n = 0
    t = 0
    while n < args.comments:
        t += 1
        thread_ids.append(t)
        size = min(rng.randint(1, 60), args.comments - n)
        opened = start + timedelta(hours=t * 3)
        mine: list[tuple[int, int, datetime]] = []  # id, depth, time
        for _ in range(size):
            n += 1
            when = opened + timedelta(minutes=rng.randint(1, 60 * 24 * 7))
            parent, depth = None, 0
            if mine and rng.random() < 0.4:
                pid, pdepth, ptime = rng.choice(mine)
                if pdepth < 8:
                    parent, depth = pid, pdepth + 1
                    when = max(when, ptime + timedelta(minutes=1))
            mine.append((n, depth, when))
            posts.append((when, t, n, parent))
    posts.sort()
    with open(args.output, "w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="utf-8"?>\n<disqus xmlns="http://disqus.com" '
            'xmlns:dsq="http://disqus.com/disqus-internals">\n'
        )
        for tid in thread_ids:
            out.write(
                f'<thread dsq:id="{tid}"><id>post-{tid}</id><forum>bench</forum>'
                f"<link>https://news.example.com/{2015 + tid // 3000}/story-{tid}/</link>"
                f"<title>Story {tid}</title><message/>"
                f"<createdAt>{(start + timedelta(hours=tid * 3)):%Y-%m-%dT%H:%M:%SZ}</createdAt>"
                "<author><email/><name>Editor</name><isAnonymous>false</isAnonymous></author>"
                "<ipAddress>198.51.100.1</ipAddress><isClosed>false</isClosed>"
                "<isDeleted>false</isDeleted></thread>\n"
            )
        for when, tid, pid, parent in posts:
            roll = rng.random()
            parent_xml = f'<parent dsq:id="{parent}"/>' if parent else ""
            out.write(
                f'<post dsq:id="{pid}"><id/><message><![CDATA[{body(rng)}]]></message>'
                f"<createdAt>{when:%Y-%m-%dT%H:%M:%SZ}</createdAt>"
                f"<isDeleted>{'true' if roll < 0.02 else 'false'}</isDeleted>"
                f"<isSpam>{'true' if 0.02 <= roll < 0.03 else 'false'}</isSpam>"
                f"<author><email>reader{pid % 5000}@example.com</email>"
                f"<name>{escape(rng.choice(WORDS).title())} {pid % 997}</name>"
                "<isAnonymous>false</isAnonymous></author>"
                f"<ipAddress>203.0.{pid % 250}.{pid % 200 + 1}</ipAddress>"
                f'<thread dsq:id="{tid}"/>{parent_xml}</post>\n'
            )
        out.write("</disqus>\n")


if __name__ == "__main__":
    main()
