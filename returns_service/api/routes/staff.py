"""Staff accounts, made by an admin: people of the shop sign in to the console with their own
email and password, and what they do is recorded with their identity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import AfterValidator, BaseModel, Field, SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.api.auth import Principal, allow
from returns_service.api.deps import WriteSessionDep
from returns_service.api.errors import Conflict, InvalidInput, NotFound
from returns_service.api.schemas import Request
from returns_service.domain.passwords import weakness
from returns_service.domain.types import Email, Name
from returns_service.store import staff

router = APIRouter(prefix="/v1/staff-users", tags=["staff"])

Role = Literal["agent", "warehouse", "ops", "admin"]


def strong_enough(password: SecretStr) -> SecretStr:
    """At least 12 characters, not blank, not a few characters over and over, and not one of
    the passwords guessers try first."""
    why = weakness(password.get_secret_value())
    if why is not None:
        raise ValueError(why)
    return password


Password = Annotated[
    SecretStr,
    AfterValidator(strong_enough),
    Field(
        description="12 to 200 characters, 5 different at least, not the account's email or"
        " name nor a common password; never shown again."
    ),
]
StaffId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^su_[0-9a-f]+$")]
Admin = Annotated[Principal, Depends(allow("admin"))]


class StaffUserIn(Request):
    email: Email
    name: Name
    role: Role
    password: Password


class PasswordIn(Request):
    password: Password


class StaffUserPatch(Request):
    name: Name | None = None
    role: Role | None = None
    active: bool | None = None
    password: Password | None = None


class StaffUserOut(BaseModel):
    id: str
    email: str
    name: str
    role: str
    active: bool
    created_at: datetime

    @classmethod
    def build(cls, row: staff.StaffUserRow) -> StaffUserOut:
        return cls(
            id=row.id,
            email=row.email,
            name=row.name,
            role=row.role,
            active=row.active,
            created_at=row.created_at,
        )


@router.post("", status_code=201, response_model=StaffUserOut)
async def create_staff_user(body: StaffUserIn, write: WriteSessionDep, _: Admin) -> StaffUserOut:
    """A new account; its password is hashed (Argon2id) and never shown again."""
    _strong_for(body.password, body.email, body.name)
    async with write.begin():
        try:
            row = await staff.create_staff(
                write,
                body.email,
                body.name,
                body.role,
                body.password.get_secret_value(),
                datetime.now(UTC),
            )
        except staff.EmailTaken as error:
            raise Conflict(f"a staff account for {error} exists") from None
    return StaffUserOut.build(row)


@router.get("", response_model=list[StaffUserOut])
async def list_staff_users(write: WriteSessionDep, _: Admin) -> list[StaffUserOut]:
    async with write.begin():
        return [StaffUserOut.build(row) for row in await staff.list_staff(write)]


def _strong_for(password: SecretStr, email: str, name: str) -> None:
    """The account's own email or name is no password for it."""
    why = weakness(password.get_secret_value(), email, name)
    if why is not None:
        raise InvalidInput("password", why)


async def _found(write: AsyncSession, staff_id: str) -> staff.StaffUserRow:
    row = await staff.get_staff(write, staff_id)
    if row is None:
        raise NotFound(f"staff user {staff_id} does not exist")
    return row


@router.post("/{staff_id}/disable", response_model=StaffUserOut)
async def disable_staff_user(staff_id: StaffId, write: WriteSessionDep, _: Admin) -> StaffUserOut:
    """The account signs in no more, and its open sessions end now."""
    return await _set_active(write, staff_id, False)


@router.post("/{staff_id}/enable", response_model=StaffUserOut)
async def enable_staff_user(staff_id: StaffId, write: WriteSessionDep, _: Admin) -> StaffUserOut:
    return await _set_active(write, staff_id, True)


async def _set_active(write: AsyncSession, staff_id: str, active: bool) -> StaffUserOut:
    async with write.begin():
        row = await _found(write, staff_id)
        if not active:
            await _not_the_last_admin(write, row)
        await staff.set_active(write, row, active, datetime.now(UTC))
    return StaffUserOut.build(row)


@router.patch("/{staff_id}", response_model=StaffUserOut)
async def change_staff_user(
    staff_id: StaffId, body: StaffUserPatch, write: WriteSessionDep, _: Admin
) -> StaffUserOut:
    """Change what is named: the name, the role, whether the account may sign in, its password.
    A new role, a disabled account or a new password ends the account's open sessions; the shop's
    last active admin is neither disabled nor demoted (409 `last_admin`)."""
    now = datetime.now(UTC)
    async with write.begin():
        row = await _found(write, staff_id)
        if (body.role not in (None, "admin") and row.role == "admin") or body.active is False:
            await _not_the_last_admin(write, row)
        if body.name is not None:
            row.name, row.updated_at = body.name, now
        if body.password is not None:
            _strong_for(body.password, row.email, row.name)
            await staff.set_password(write, row, body.password.get_secret_value(), now)
        if body.role is not None and body.role != row.role:
            await staff.set_role(write, row, body.role, now)
        if body.active is not None and body.active != row.active:
            await staff.set_active(write, row, body.active, now)
    return StaffUserOut.build(row)


async def _not_the_last_admin(write: AsyncSession, row: staff.StaffUserRow) -> None:
    """The shop keeps an admin who can sign in: the last one is neither disabled nor demoted."""
    if row.role == "admin" and row.active and not await staff.other_admins(write, row.id):
        raise Conflict(
            f"{row.email} is the shop's last admin; make another admin first",
            code="last_admin",
        )


@router.post("/{staff_id}/password", response_model=StaffUserOut)
async def reset_staff_password(
    staff_id: StaffId, body: PasswordIn, write: WriteSessionDep, _: Admin
) -> StaffUserOut:
    """A new password; the account's open sessions end now."""
    async with write.begin():
        row = await _found(write, staff_id)
        _strong_for(body.password, row.email, row.name)
        await staff.set_password(write, row, body.password.get_secret_value(), datetime.now(UTC))
    return StaffUserOut.build(row)
