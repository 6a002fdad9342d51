"""The dashboard's imports and backups (admins only): upload another system's export, see its
dry run, import it for real, follow its progress; download a complete archive of the site.

Admins only: an import writes thousands of comments that no button takes back (re-running it
changes nothing, but undoing it means restoring a backup), and an archive holds every
reader's and donor's address and the moderators' password hashes.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath, FromQuery
from litestar.response import File, Redirect, Template

from kibitz.backup import archive
from kibitz.porting import jobs
from kibitz.porting.importer import FORMATS, ImportOptions
from kibitz.porting.mapping import KeyMapping, read_map_file, read_rewrites
from kibitz.services import audit
from kibitz.services.errors import Invalid, ServiceError
from kibitz.web import admin_uploads as uploads
from kibitz.web import reader as rd
from kibitz.web.admin_auth import admins_only, context, me
from kibitz.web.errors import error_response

BASE = "/admin/imports"
FORMAT_LABELS = {
    "disqus": "Disqus (XML export)",
    "wordpress": "WordPress / wpDiscuz (WXR export)",
    "isso": "Isso (its SQLite database, or JSON)",
    "remark42": "Remark42 (backup, gzipped or not)",
    "commento": "Commento (JSON export)",
}


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _page(request: Request[Any, Any, Any], name: str, status: int = 200, **extra: Any) -> Template:
    kb = rd.kibitz(request)
    return Template(
        f"admin/{name}.html",
        status_code=status,
        context=context(
            request, section="imports", base=BASE, formats=FORMAT_LABELS,
            limit_mb=kb.settings.upload_max_bytes // (1024 * 1024), **extra,
        ),
    )  # fmt: skip


@get("/imports", include_in_schema=False, guards=[admins_only])
async def imports_page(
    request: Request[Any, Any, Any], notice: FromQuery[str | None] = None
) -> Template:
    values = {"format": "disqus", "dry_run": "on", "key_from": "path", "pingbacks": "skip"}
    found = await jobs.recent(rd.kibitz(request))
    return _page(request, "imports", values=values, jobs=found, notice=notice)


async def _options(request: Request[Any, Any, Any], data: dict[str, str]) -> ImportOptions:
    fmt = data.get("format", "")
    if fmt not in FORMATS:
        raise Invalid("invalid_format", "Choose the system the file comes from.", "format")
    key_from = data.get("key_from", "path")
    if key_from not in ("path", "url", "identifier"):
        raise Invalid("invalid_key", "Keys come from the path, the address or the identifier.",
                      "key_from")  # fmt: skip
    pingbacks = data.get("pingbacks", "skip")
    if pingbacks not in ("skip", "keep"):
        raise Invalid("invalid_pingbacks", "Skip or keep pingbacks.", "pingbacks")
    try:
        rewrites = read_rewrites(data.get("rewrites", ""))
    except ValueError as exc:
        raise Invalid("invalid_rewrites", f"Address rewrites, {exc}.", "rewrites") from None
    mapping_text = data.get("mapping", "")
    mapping_file = await uploads.file_of(request, "mapping_file")
    if mapping_file is not None:
        try:
            mapping_text = (await mapping_file.read()).decode("utf-8-sig") + "\n" + mapping_text
        except UnicodeDecodeError:
            raise Invalid("invalid_mapping", "The mapping file is not UTF-8 text.",
                          "mapping_file") from None  # fmt: skip
    try:
        exact = read_map_file(io.StringIO(mapping_text))
    except ValueError as exc:
        raise Invalid("invalid_mapping", f"The key mapping, {exc}.", "mapping") from None
    source = data.get("source", "").strip() or None
    if source is not None and len(source) > 64:
        raise Invalid("invalid_source", "A source label has at most 64 characters.", "source")
    return ImportOptions(
        format=fmt,
        source=source,
        mapping=KeyMapping(key_from=key_from, rewrites=rewrites, exact=exact),  # type: ignore[arg-type]
        pingbacks=pingbacks,  # type: ignore[arg-type]
        dry_run=data.get("dry_run") == "on",
    )


@post("/imports", include_in_schema=False, status_code=303,
      guards=[admins_only, uploads.csrf_after_login], opt=uploads.OPT)  # fmt: skip
async def upload(request: Request[Any, Any, Any]) -> Response[Any]:
    """Keep the file and start the import in the background; the job's page follows it."""
    kb = rd.kibitz(request)
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        options = await _options(request, data)
        file = await uploads.file_of(request, "file")
        if file is None:
            raise Invalid("required", "Choose the file to import.", "file")
        job_id = await jobs.start(kb, me(request).actor, file.file, file.filename, options)
    except ServiceError as exc:
        if _wants_json(request):
            raise
        found = await jobs.recent(kb)
        return _page(request, "imports", exc.status, values=data, jobs=found,
                     error=exc.message, field=exc.field)  # fmt: skip
    finally:
        await uploads.close_files(request)
    where = f"{BASE}/{job_id}"
    if _wants_json(request):
        return Response({"id": job_id, "url": where, "progress": f"{where}/progress"},
                        status_code=202)  # fmt: skip
    return Redirect(where, status_code=303)


@get("/imports/{job_id:int}", include_in_schema=False, guards=[admins_only])
async def job_page(request: Request[Any, Any, Any], job_id: FromPath[int]) -> Response[Any]:
    """The job's progress while it runs, then its report; 422 with the reason when the file
    could not be imported (nothing of it was written)."""
    job = await jobs.get(rd.kibitz(request), job_id)
    status = 422 if job.state == "failed" else 200
    if _wants_json(request):
        if job.state == "failed":
            return error_response(422, "import_failed", job.error or "The import failed.", "file")
        body: dict[str, Any] = job.as_json()
        if job.report is not None:
            body["report"] = msgspec.to_builtins(job.report)
        return Response(body, status_code=status)
    return _page(request, "import_job", status, job=job, labels=FORMAT_LABELS)


@get("/imports/{job_id:int}/progress", include_in_schema=False, guards=[admins_only])
async def job_progress(request: Request[Any, Any, Any], job_id: FromPath[int]) -> Response[Any]:
    """For the page that polls: never cached."""
    job = await jobs.get(rd.kibitz(request), job_id)
    return Response(job.as_json(), headers={"Cache-Control": "no-store"})


@post("/imports/{job_id:int}/run", include_in_schema=False, status_code=303,
      guards=[admins_only])  # fmt: skip
async def job_run(request: Request[Any, Any, Any], job_id: FromPath[int]) -> Response[Any]:
    """Import for real the file a dry run read."""
    kb = rd.kibitz(request)
    try:
        new_id = await jobs.rerun(kb, me(request).actor, job_id)
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return Redirect(f"{BASE}?{urlencode({'notice': exc.message})}", status_code=303)
    return Redirect(f"{BASE}/{new_id}", status_code=303)


@post("/export", include_in_schema=False, status_code=200, guards=[admins_only])
async def export(request: Request[Any, Any, Any]) -> File:
    """The whole site as a kibitz archive (docs/backup-format.md), written to a private
    temporary file first and removed once sent. Logged: it holds every address."""
    kb = rd.kibitz(request)
    folder = Path(tempfile.mkdtemp(prefix="kibitz-export-"))
    name = archive.default_name()
    path = folder / name
    try:
        rows = await archive.export_to_path(kb, path)
        actor = me(request).actor
        after = {"rows": rows, "file": name}
        await kb.db.write(
            lambda conn: audit.record(conn, actor, "export_site", "site", after=after)
        )
    except BaseException:
        _remove(folder)
        raise
    return File(
        path=path, filename=name, media_type="application/gzip",
        headers={"Cache-Control": "no-store"}, background=BackgroundTask(_remove, folder),
    )  # fmt: skip


def _remove(folder: Path) -> None:
    for item in folder.iterdir():
        item.unlink(missing_ok=True)
    os.rmdir(folder)


ROUTES = [imports_page, job_page, job_progress, job_run, export]
UPLOAD_ROUTES = [upload]
