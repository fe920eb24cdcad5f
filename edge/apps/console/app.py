"""The console's pages (Starlette, Jinja templates, no JavaScript): status, people, unknown faces,
events; every page but ``/login`` needs a session, every form its CSRF token.

The store changes only through :class:`edge.store.Store` (as the CLI changes it); a running daemon
picks the changes up within a second. Pictures are served from the store to logged-in users only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from edge.api import Recognizer
from edge.apps.console.auth import LoginLimiter, Sessions, check_password, same
from edge.apps.console.plot import daily_bars
from edge.apps.people import enrol
from edge.cluster import group_embeddings
from edge.errors import EdgeFaceError, EnrollmentError
from edge.store import AuditEntry, Store
from edge.unit.status import read_status

log = logging.getLogger(__name__)

COOKIE, LOGIN_COOKIE = "edgeface_session", "edgeface_login"
MAX_UPLOAD_PHOTOS = 20
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; "
                                       "frame-ancestors 'none'; base-uri 'none'"}


@dataclass(frozen=True)
class ConsoleSettings:
    """``recognizer``: makes the models' :class:`Recognizer` on first need (enrolment, grouping);
    ``announce_far``/``cosine_threshold``: the config's announce point, the bound for grouping unknown
    faces; ``https``: cookies marked Secure."""

    store: Path
    status_file: Path
    recognizer: Callable[[], Recognizer]
    announce_far: float
    cosine_threshold: float | None = None
    https: bool = False
    door: bool = False


class Console:
    def __init__(self, settings: ConsoleSettings, *, clock: Callable[[], float] = time.time):
        self.s = settings
        self.clock = clock
        self.sessions = Sessions()
        self.limiter = LoginLimiter()
        self.templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
        self._lock = asyncio.Lock()  # one store connection: one request's changes at a time on it
        self._rec: Recognizer | None = None
        self._store = Store(settings.store)

    def close(self) -> None:
        self._store.close()

    @property
    def rec(self) -> Recognizer:
        if self._rec is None:
            self._rec = self.s.recognizer()
        return self._rec

    # --- plumbing ------------------------------------------------------------------------------

    def _render(self, request: Request, name: str, session: Any, **ctx: Any) -> Response:
        ctx.update(request=request, csrf=session.csrf if session else None, page=name.removesuffix(".html"),
                   message=request.query_params.get("msg"), error=request.query_params.get("error"))
        return self._secure(self.templates.TemplateResponse(request, name, ctx))

    @staticmethod
    def _secure(resp: Response) -> Response:
        resp.headers.update(_HEADERS)
        return resp

    @staticmethod
    def _back(path: str, *, msg: str | None = None, error: str | None = None) -> Response:
        from urllib.parse import urlencode

        q = urlencode({k: v for k, v in (("msg", msg), ("error", error)) if v})
        return RedirectResponse(path + (f"?{q}" if q else ""), status_code=303)

    def page(self, fn: Callable[[Request, Any], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """A GET page: without a session, the login page instead."""

        async def handler(request: Request) -> Response:
            session = self.sessions.get(request.cookies.get(COOKIE))
            if session is None:
                return self._secure(RedirectResponse("/login", status_code=303))
            return self._secure(await fn(request, session))

        return handler

    def resource(self, fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """A picture: 401 without a session."""

        async def handler(request: Request) -> Response:
            if self.sessions.get(request.cookies.get(COOKIE)) is None:
                return self._secure(Response("log in first: /login", status_code=401, media_type="text/plain"))
            return self._secure(await fn(request))

        return handler

    def action(self, fn: Callable[[Request, Any], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """A form's POST: 401 without a session, 403 without the session's CSRF token."""

        async def handler(request: Request) -> Response:
            session = self.sessions.get(request.cookies.get(COOKIE))
            if session is None:
                return self._secure(Response("not logged in: log in at /login first", status_code=401, media_type="text/plain"))
            form = await request.form(max_files=MAX_UPLOAD_PHOTOS, max_fields=50)
            if not same(str(form.get("csrf") or ""), session.csrf):
                return self._secure(Response("missing or wrong CSRF token: reload the page and submit the form again",
                                             status_code=403, media_type="text/plain"))
            try:
                async with self._lock:
                    return self._secure(await fn(request, form))
            except EdgeFaceError as e:  # an ordinary mistake: shown on the page, nothing changed
                return self._secure(self._back(request.url.path.rsplit("/", 1)[0] or "/status", error=str(e)))

        return handler

    # --- login ---------------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        import secrets

        nonce = secrets.token_urlsafe(24)
        resp = self._render(request, "login.html", None, login_csrf=nonce)
        resp.set_cookie(LOGIN_COOKIE, nonce, max_age=900, httponly=True, samesite="strict", secure=self.s.https)
        return resp

    async def login(self, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        form = await request.form(max_files=0, max_fields=5)
        if not same(str(form.get("csrf") or ""), request.cookies.get(LOGIN_COOKIE)):
            return self._secure(Response("missing or wrong CSRF token: reload the login page", status_code=403, media_type="text/plain"))
        wait = self.limiter.wait_s(client)
        if wait > 0:
            log.warning("console: login from %s refused, too many failed attempts", client)
            return self._secure(Response(f"too many failed logins; try again in {wait / 60:.0f} minute(s)", status_code=429,
                                         media_type="text/plain", headers={"Retry-After": str(int(wait) + 1)}))
        async with self._lock:
            stored = self._store.console_password_hash()
        if not check_password(str(form.get("password") or ""), stored):
            self.limiter.failed(client)
            log.warning("console: failed login from %s", client)
            return self._secure(self._back("/login", error="wrong password"))
        self.limiter.succeeded(client)
        session = self.sessions.start()
        resp = self._back("/status")
        resp.set_cookie(COOKIE, session.token, httponly=True, samesite="strict", secure=self.s.https, path="/")
        resp.delete_cookie(LOGIN_COOKIE)
        log.info("console: login from %s", client)
        return self._secure(resp)

    async def logout(self, request: Request, form: Any) -> Response:
        self.sessions.end(request.cookies.get(COOKIE))
        resp = self._back("/login", msg="logged out")
        resp.delete_cookie(COOKIE)
        return resp

    # --- pages ---------------------------------------------------------------------------------

    async def status(self, request: Request, session: Any) -> Response:
        status, problem = None, None
        if self.s.status_file.exists():
            try:
                status = read_status(self.s.status_file)
            except EdgeFaceError as e:
                problem = str(e)
        else:
            problem = "the daemon has not run on this store yet (no status file): start it with edgeface run --config FILE"
        age = self.clock() - status.updated_unix if status else None
        async with self._lock:
            door_enabled = self._store.door_enabled()
            pending = self._store.outbox_count()
        return self._render(request, "status.html", session, status=status, problem=problem, age=age, door=self.s.door,
                            door_enabled=door_enabled, pending=pending)

    async def door(self, request: Request, form: Any) -> Response:
        enabled = form.get("enabled") == "1"
        audit = AuditEntry.now("command", "enabled" if enabled else "disabled", "console")
        self._store.set_door_enabled(enabled, audit)
        return self._back("/status", msg=f"door {'enabled' if enabled else 'disabled'}")

    async def people(self, request: Request, session: Any) -> Response:
        async with self._lock:
            people = self._store.persons()
            crops = self._store.template_crops()
        return self._render(request, "people.html", session, people=people, crops=crops)

    async def enrol(self, request: Request, form: Any) -> Response:
        name = str(form.get("name") or "")
        uploads = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
        if not uploads:
            return self._back("/people", error="choose one or more photos of the person (JPEG or PNG) to enrol")
        photos = []
        for f in uploads:
            data = await f.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                return self._back("/people", error=f"{f.filename} is larger than {MAX_UPLOAD_BYTES // 2**20} MB; use a smaller photo")
            photos.append(data)
        try:
            faces = self.rec.enrollment_faces(photos)
        except EnrollmentError as e:  # name the upload, not "photo 2"
            text = str(e)
            for i, f in enumerate(uploads):
                text = text.replace(f"photo {i + 1}:", f"{f.filename}:")
            return self._back("/people", error=text)
        stored, n, total = enrol(self.rec, self._store, name, faces, [f"console upload: {f.filename}" for f in uploads],
                                 force=form.get("force") == "1")
        return self._back("/people", msg=f"enrolled {n} photo(s) of {stored} ({total} template(s))")

    async def rename(self, request: Request, form: Any) -> Response:
        old, new = str(form.get("old") or ""), str(form.get("new") or "")
        self._store.rename(old, new)
        return self._back("/people", msg=f"renamed {old} to {new.strip()}")

    async def remove(self, request: Request, form: Any) -> Response:
        name = str(form.get("name") or "")
        self._store.remove(name)
        return self._back("/people", msg=f"removed {name}: their templates, face crops and events are deleted")

    def _threshold(self) -> float:
        return self.rec.operating_point("announce", far=self.s.announce_far, threshold=self.s.cosine_threshold).threshold

    async def unknown(self, request: Request, session: Any) -> Response:
        fp = self.rec.embedder.fingerprint
        async with self._lock:
            faces = self._store.unknown_faces(fp)
            ignored = len(self._store.unknown_faces(fp, ignored=True))
        threshold = self._threshold()
        groups = []
        for g in group_embeddings([f.embedding for f in faces], threshold) if faces else []:
            members = sorted((faces[i] for i in g.members), key=lambda f: -f.quality)
            visits = sorted({f.at for f in members})
            groups.append({"ids": ",".join(str(f.id) for f in members), "faces": members[:8], "count": len(members),
                           "visits": visits, "cohesion": g.cohesion})
        return self._render(request, "unknown.html", session, groups=groups, ignored=ignored, threshold=threshold)

    @staticmethod
    def _ids(form: Any) -> list[int]:
        try:
            return [int(x) for x in str(form.get("ids") or "").split(",") if x.strip()]
        except ValueError:
            raise EdgeFaceError("the group's face list is malformed; reload the page and try again") from None

    async def name_group(self, request: Request, form: Any) -> Response:
        name = str(form.get("name") or "")
        n = self._store.name_unknown(self._ids(form), name, self.rec.embedder.fingerprint)
        return self._back("/unknown", msg=f"enrolled {n} face(s) of the group as {name.strip()}")

    async def ignore_group(self, request: Request, form: Any) -> Response:
        n = self._store.ignore_unknown(self._ids(form))
        return self._back("/unknown", msg=f"ignored {n} face(s); they are deleted at their retention")

    async def events(self, request: Request, session: Any) -> Response:
        now = self.clock()
        async with self._lock:
            events = self._store.event_log(limit=200)
            audit = list(reversed(self._store.audit(limit=100)))
            recent = self._store.event_log(limit=100_000, since_unix=now - 14 * 86400)
        plot = daily_bars([(e.at_unix, e.type) for e in recent], now, days=14)
        faces = {e.event_id: e.id for e in recent if e.jpeg is not None}  # an audit entry shows its event's face
        return self._render(request, "events.html", session, events=events, audit=audit, plot=plot, faces=faces)

    async def picture(self, request: Request) -> Response:
        kind, ident = request.path_params["kind"], int(request.path_params["ident"])
        async with self._lock:
            get = {"template": self._store.template_crop, "unknown": self._store.unknown_crop, "event": self._store.event_crop}.get(kind)
            data = get(ident) if get else None
        if data is None:
            return Response("no such picture (deleted?)", status_code=404, media_type="text/plain")
        return Response(data, media_type="image/jpeg")

    async def home(self, request: Request, session: Any) -> Response:
        return RedirectResponse("/status", status_code=303)

    def app(self) -> Starlette:
        routes = [
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.action(self.logout), methods=["POST"]),
            Route("/", self.page(self.home)),
            Route("/status", self.page(self.status)),
            Route("/door", self.action(self.door), methods=["POST"]),
            Route("/people", self.page(self.people)),
            Route("/people/enrol", self.action(self.enrol), methods=["POST"]),
            Route("/people/rename", self.action(self.rename), methods=["POST"]),
            Route("/people/remove", self.action(self.remove), methods=["POST"]),
            Route("/unknown", self.page(self.unknown)),
            Route("/unknown/name", self.action(self.name_group), methods=["POST"]),
            Route("/unknown/ignore", self.action(self.ignore_group), methods=["POST"]),
            Route("/events", self.page(self.events)),
            Route("/img/{kind:str}/{ident:int}", self.resource(self.picture)),
        ]
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            self.close()

        return Starlette(routes=routes, lifespan=lifespan)


def local_time(iso: str) -> str:
    """An ISO 8601 UTC time as the unit's local time, to the second."""
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def make_app(settings: ConsoleSettings, *, clock: Callable[[], float] = time.time) -> Starlette:
    console = Console(settings, clock=clock)
    console.templates.env.filters["local"] = local_time
    return console.app()
