"""Reference pages generated from the code: ``python -m kibitz.docs`` rewrites them and
``tests/test_docs.py`` fails when one is out of date."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kibitz.ratelimit import rate_limits_markdown
from kibitz.settings import example_toml, settings_reference_markdown

ROOT = Path(__file__).resolve().parent.parent


def cli_markdown() -> str:
    from kibitz.cli import main

    lines = ["# Command line", "", "Generated from `kibitz/cli/` by `make docs`.", ""]

    def walk(cmd: click.Command, prefix: str) -> None:
        ctx = click.Context(cmd, info_name=prefix)
        if isinstance(cmd, click.Group):
            for name in sorted(cmd.commands):
                walk(cmd.commands[name], f"{prefix} {name}")
            return
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        lines.extend(
            [f"## `{prefix}`", "", inspect.cleandoc(cmd.help or ""), "", "```", f"{prefix} {usage}"]
        )
        for param in cmd.get_params(ctx):
            record = param.get_help_record(ctx)
            if record:
                lines.append(f"  {record[0]:<28} {record[1]}")
        lines.extend(["```", ""])

    walk(main, "kibitz")
    return "\n".join(lines).rstrip() + "\n"


def api_markdown() -> str:
    from kibitz.app import create_app
    from kibitz.settings import Settings

    schema: dict[str, Any] = create_app(
        Settings(database_url="sqlite:///:memory:")
    ).openapi_schema.to_schema()
    lines = [
        "# HTTP API, version 1",
        "",
        "Generated from the OpenAPI document that kibitz serves at `/api/v1/openapi.json`",
        "(browsable at `/api/docs`). Errors always have the shape",
        '`{"error": {"code": "...", "message": "...", "field": "..."}}`.',
        "",
        "Request bodies are JSON (`Content-Type: application/json`), decoded strictly: a value",
        'of the wrong type is refused (422, naming the `field`), never converted: `"1"` is not a',
        "number and `1.0` is not an id. Fields the server does not know are ignored, so that a",
        "client newer than the server keeps working. A body that is empty or not JSON is 400",
        "`malformed_json`. Ids are whole numbers from 1 to 2^63 - 1: a larger id in a path is 404",
        "`not_found`, in a body or a page cursor 422.",
        "",
        "Comment bodies are Markdown (CommonMark), rendered once when written and sanitised:",
        "raw HTML is dropped, the text between its tags kept (`KIBITZ_MARKDOWN_RAW_HTML=text`",
        "shows it as typed, as text), images show as their alt text unless",
        '`KIBITZ_MARKDOWN_IMAGES` is on, links get `rel="nofollow ugc noopener"`.',
        "`POST /api/v1/preview` renders exactly as posting would.",
        "",
        "Thread pages, counts, passages and funding bars carry an ETag and answer 304 when",
        "If-None-Match names it: one tag or a comma-separated list, weak (`W/`) tags matching",
        "too, or `*`.",
        "",
        "| Method | Path | What it does |",
        "| --- | --- | --- |",
    ]
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "patch", "delete", "put"):
                lines.append(f"| {method.upper()} | `{path}` | {op.get('summary', '')} |")
    return "\n".join(lines) + "\n"


PAGES: dict[str, Callable[[], str]] = {
    "docs/settings.md": settings_reference_markdown,
    "docs/rate-limits.md": rate_limits_markdown,
    "docs/cli.md": cli_markdown,
    "docs/api.md": api_markdown,
    "kibitz.example.toml": example_toml,
}


def main() -> int:
    for name, make in PAGES.items():
        path = ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make(), encoding="utf-8")
        sys.stdout.write(f"wrote {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
