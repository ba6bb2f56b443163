"""Temporary: the dependencies now live in billing.state (deleted once balance/ imports them from there)."""

from __future__ import annotations

from aiaas.deps import AdminDep, AdminPrincipalDep
from billing.state import AdminStateDep, BillingManageDep, BillingReadDep, StateDep

__all__ = ["StateDep", "AdminStateDep", "BillingReadDep", "BillingManageDep", "AdminDep", "AdminPrincipalDep"]
