"""Client roles: the three fixed system roles and the agency's custom ones,
and the role a person of a client may have on one of the client's sites
instead of the client-wide one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.auth.permissions import InvalidPermissions, normalize
from bridge.core import clock
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.models import Client, Role, Site, SiteRole, User


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
    for model, column, message in (
        (Client, Client.role_id, "{} client(s) have this role: give them another role first."),
        (
            SiteRole,
            SiteRole.role_id,
            "{} person(s) have this role on a site: give them another role there first.",
        ),
    ):
        in_use = session.scalar(select(func.count()).select_from(model).where(column == role.id))
        if in_use:
            raise Conflict(message.format(in_use), code="role_in_use")
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


# A person's role on one site -------------------------------------------------------


@dataclass(frozen=True)
class SiteRoleView:
    """A site of the person's client and their role there: ``role`` is the
    site's own (None: the client-wide role), ``effective`` the one that
    decides."""

    site: Site
    role: Role | None
    effective: Role


def site_permissions(session: Session, user_id: int) -> dict[int, dict]:
    """The permission set of each site where the person has a role of its
    own, by site id (what ``bridge.auth.policy.ClientUser`` carries)."""
    rows = session.execute(
        select(SiteRole.site_id, Role.permissions)
        .join(Role, Role.id == SiteRole.role_id)
        .where(SiteRole.user_id == user_id)
    )
    return {site_id: dict(permissions or {}) for site_id, permissions in rows}


def _own_role(session: Session, user: User, site: Site) -> SiteRole | None:
    return session.scalar(
        select(SiteRole).where(SiteRole.user_id == user.id, SiteRole.site_id == site.id)
    )


def role_on_site(session: Session, user: User, site: Site) -> Role:
    """The role that decides what ``user`` may do on ``site``: theirs on
    that site if they have one, else the client's."""
    own = _own_role(session, user, site)
    return own.role if own is not None else site.client.role


def site_roles(session: Session, user: User) -> list[SiteRoleView]:
    """Every site of the person's client (by name) with their role there."""
    client = session.get(Client, user.client_id)
    own = {
        row.site_id: row.role
        for row in session.scalars(select(SiteRole).where(SiteRole.user_id == user.id))
    }
    sites = sorted(client.sites, key=lambda site: (site.name.lower(), site.id))
    return [SiteRoleView(site, own.get(site.id), own.get(site.id) or client.role) for site in sites]


def _same_client(user: User, site: Site) -> None:
    if site.client_id != user.client_id:
        raise Invalid(
            "This site belongs to another client: a person has a role only on "
            "their own client's sites.",
            code="site_of_another_client",
            fields={"site_id": ["Not a site of this person's client."]},
        )


def set_site_role(session: Session, user: User, site: Site, role_id: int) -> SiteRoleView:
    """Give ``user`` the role ``role_id`` on ``site`` (one of their client's
    sites), instead of the client-wide role there. Setting the role they
    already have there changes nothing."""
    _same_client(user, site)
    role = session.get(Role, role_id) if isinstance(role_id, int) else None
    if role is None:
        raise Invalid("No such role.", code="unknown_role", fields={"role_id": ["No such role."]})
    row = _own_role(session, user, site)
    now = clock.now()
    if row is None:
        row = SiteRole(
            user_id=user.id,
            site_id=site.id,
            client_id=site.client_id,
            role=role,
            created_at=now,
        )
        session.add(row)
        try:
            with session.begin_nested():
                session.flush()
            return SiteRoleView(site, role, role)
        except IntegrityError:  # a concurrent request gave them a role there first
            row = _own_role(session, user, site)
            if row is None:  # ...and another removed it again
                raise Conflict(
                    "The role changed meanwhile: try again.", code="concurrent_change"
                ) from None
    if row.role_id != role.id:
        row.role = role
        row.updated_at = now
        session.flush()
    return SiteRoleView(site, role, role)


def remove_site_role(session: Session, user: User, site: Site) -> SiteRoleView:
    """Back to the client-wide role on ``site`` (nothing to do when the
    person has no role of their own there)."""
    _same_client(user, site)
    row = _own_role(session, user, site)
    if row is not None:
        session.delete(row)
        session.flush()
    return SiteRoleView(site, None, site.client.role)
