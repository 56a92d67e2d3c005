"""Client roles: the three fixed system roles and the agency's custom ones."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bridge.auth.permissions import InvalidPermissions, normalize
from bridge.core import clock
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.models import Client, Role


def list_roles(session: Session) -> list[Role]:
    # System roles first, in their fixed order, then custom roles by name.
    return list(session.scalars(select(Role).order_by(Role.system_key.is_(None), Role.id)))


def clients_per_role(session: Session) -> dict[int, int]:
    """How many clients have each role (roles no client has are left out)."""
    rows = session.execute(select(Client.role_id, func.count()).group_by(Client.role_id))
    return {role_id: count for role_id, count in rows}


def get_role(session: Session, role_id: int) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound("No such role.")
    return role


def default_role(session: Session) -> Role:
    role = session.scalars(select(Role).where(Role.is_default.is_(True))).first()
    if role is None:  # the migration seeds one; this only guards a hand-edited database
        raise Conflict("No default role is set.", code="no_default_role")
    return role


def _permissions(permissions: dict) -> dict:
    try:
        return normalize(permissions)
    except InvalidPermissions as exc:
        raise Invalid("The permission set is invalid.", fields={"permissions": exc.fields}) from exc


def _check_name(session: Session, name: str, exclude_id: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise Invalid("A role needs a name.", fields={"name": ["Required."]})
    query = select(func.count()).select_from(Role).where(func.lower(Role.name) == name.lower())
    if exclude_id is not None:
        query = query.where(Role.id != exclude_id)
    if session.scalar(query):
        raise Conflict(f"A role named {name!r} already exists.", code="duplicate_name")
    return name


def create_role(session: Session, *, name: str, permissions: dict, description: str = "") -> Role:
    role = Role(
        name=_check_name(session, name),
        description=description,
        permissions=_permissions(permissions),
        is_default=False,
        created_at=clock.now(),
    )
    session.add(role)
    session.flush()
    return role


def _refuse_system(role: Role, verb: str) -> None:
    if role.is_system:
        raise Conflict(
            f"{role.name!r} is a system role: it cannot be {verb}. Create a custom role instead.",
            code="system_role_immutable",
        )


def update_role(session: Session, role: Role, changes: dict) -> Role:
    _refuse_system(role, "edited")
    if "name" in changes:
        role.name = _check_name(session, changes["name"], exclude_id=role.id)
    if "description" in changes:
        role.description = changes["description"]
    if "permissions" in changes:
        role.permissions = _permissions(changes["permissions"])
    role.updated_at = clock.now()
    return role


def delete_role(session: Session, role: Role) -> None:
    _refuse_system(role, "deleted")
    if role.is_default:
        raise Conflict(
            "This is the default role: make another role the default first.",
            code="default_role",
        )
    in_use = session.scalar(
        select(func.count()).select_from(Client).where(Client.role_id == role.id)
    )
    if in_use:
        raise Conflict(
            f"{in_use} client(s) have this role: give them another role first.",
            code="role_in_use",
        )
    session.delete(role)


def set_default(session: Session, role: Role) -> Role:
    """Make ``role`` the default for new clients. The unique index on
    ``is_default`` keeps it at exactly one, even under concurrent requests."""
    session.execute(
        update(Role).where(Role.is_default.is_(True), Role.id != role.id).values(is_default=False)
    )
    session.flush()
    role.is_default = True
    session.flush()
    return role
