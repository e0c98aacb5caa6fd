"""The shop's team, for admins: who has an account, in which role, who may sign in; add a person,
change a role, disable or enable an account, set a new password. The same rules as the API's
(`/v1/staff-users`): the same models check the fields, the shop keeps one active admin, and a new
role, a disabled account or a new password ends the account's open sessions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from returns_service.api.deps import WriteSessionDep
from returns_service.api.errors import Problem
from returns_service.api.routes.staff import (
    StaffUserIn,
    StaffUserPatch,
    change_staff_user,
    create_staff_user,
)
from returns_service.pages.console import RoleRefused, Staff, staff_of
from returns_service.pages.portal import checked_form
from returns_service.pages.render import render
from returns_service.store import staff

router = APIRouter(prefix="/console", include_in_schema=False)
StaffId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^su_[0-9a-f]+$")]
ROLES = ("agent", "warehouse", "ops", "admin")
DONE = ("added", "role", "disabled", "enabled", "password")


async def _admin(request: Request) -> Staff:
    person = await staff_of(request)
    if not person.may("staff"):
        raise RoleRefused
    return person


async def _page(
    request: Request,
    person: Staff,
    write: Any,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    async with write.begin():
        people = await staff.list_staff(write)
    return render(
        request, "console/staff.html", status_code=status_code, person=person, people=people,
        roles=ROLES, errors=errors or {}, values=values or {},
        done=done if done in DONE else None,
    )  # fmt: skip


@router.get("/staff", response_class=HTMLResponse)
async def staff_page(request: Request, write: WriteSessionDep, done: str | None = None) -> Response:
    person = await _admin(request)
    return await _page(request, person, write, done=done)


def _wrong(invalid: ValidationError, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}{error['loc'][0] if error['loc'] else ''}": "invalid"
        for error in invalid.errors()
    }


@router.post("/staff", response_class=HTMLResponse)
async def add_person(request: Request, write: WriteSessionDep) -> Response:
    person = await _admin(request)
    form = await checked_form(request)
    values = {name: str(form.get(name, "")).strip() for name in ("email", "name", "role")}
    try:
        body = StaffUserIn.model_validate({**values, "password": str(form.get("password", ""))})
        await create_staff_user(body, write, person.principal)
    except ValidationError as invalid:
        return await _page(
            request, person, write, _wrong(invalid), values, status_code=422
        )  # fmt: skip
    except Problem as refused:
        field = (refused.extra.get("errors") or [{}])[0].get("field")
        wrong = {field: "weak"} if field == "password" else {"email": "taken"}
        return await _page(request, person, write, wrong, values, status_code=refused.status)
    return RedirectResponse("/console/staff?done=added", status_code=303)


@router.post("/staff/{staff_id}/{change}", response_class=HTMLResponse)
async def change_person(
    request: Request, staff_id: StaffId, change: str, write: WriteSessionDep
) -> Response:
    person = await _admin(request)
    form = await checked_form(request)
    changes: dict[str, dict[str, Any]] = {
        "role": {"role": str(form.get("role", ""))},
        "disable": {"active": False},
        "enable": {"active": True},
        "password": {"password": str(form.get("password", ""))},
    }
    fields = changes.get(change, {})
    if not fields:
        return Response(status_code=404)
    try:
        body = StaffUserPatch.model_validate(fields)
        await change_staff_user(staff_id, body, write, person.principal)
    except ValidationError as invalid:
        return await _page(
            request, person, write, _wrong(invalid, f"{staff_id}:"), status_code=422
        )  # fmt: skip
    except Problem as refused:
        code = refused.extra.get("code") or (
            "weak" if (refused.extra.get("errors") or [{}])[0].get("field") == "password" else ""
        )
        key = f"{staff_id}:password" if code == "weak" else f"{staff_id}:"
        return await _page(
            request, person, write, {key: code or "refused"}, status_code=refused.status
        )  # fmt: skip
    done = {"role": "role", "disable": "disabled", "enable": "enabled", "password": "password"}
    return RedirectResponse(f"/console/staff?done={done[change]}#{staff_id}", status_code=303)
