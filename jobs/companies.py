"""A company's import settings (the `companies` table's one writer)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.errors import RunError
from jobs.records import CompanySettings
from registry.clock import now
from registry.countries import country_code
from registry.tables import companies


async def get(engine: AsyncEngine, company_id: str) -> CompanySettings:
    async with engine.connect() as conn:
        row = (await conn.execute(select(companies).where(companies.c.company_id == company_id))).mappings().first()
    return CompanySettings(company_id, row["default_country"] if row else None)


async def set_default_country(engine: AsyncEngine, company_id: str, country: str | None) -> CompanySettings:
    """`country` as a code or a name ("Sverige"); None: rows without a country get none."""
    try:
        code = country_code(country) if country is not None else None
    except ValueError as exc:
        raise RunError(f"cannot make it the default country: {exc}") from None
    async with engine.begin() as conn:
        updated = await conn.execute(
            companies.update()
            .where(companies.c.company_id == company_id)
            .values(default_country=code, updated_at=now())
        )
        if updated.rowcount == 0:
            await conn.execute(companies.insert().values(company_id=company_id, default_country=code, updated_at=now()))
    return CompanySettings(company_id, code)
