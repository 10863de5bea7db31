from __future__ import annotations

from fastapi import Query
from pydantic import BaseModel, Field

from app.auth.deps import CurrentUser
from app.categories import Category
from app.evidence import prevention
from app.routing import make_router, problem_responses

router = make_router(prefix="/v1", tags=["evidence"], responses=problem_responses(401))


class PreventionActionRead(BaseModel):
    id: str = Field(examples=["burglary.shed"], description="Stable; alerts name actions by it")
    category: Category
    text: str = Field(examples=["Lock sheds and garages, and mark your tools with your postcode"])
    url: str | None = None


@router.get("/prevention-actions", response_model=list[PreventionActionRead])
async def list_prevention_actions(
    _user: CurrentUser,
    category: Category | None = Query(default=None, description="Only this category's"),
) -> list[PreventionActionRead]:
    """The prevention library: concrete things residents can do, per category."""
    return [
        PreventionActionRead(id=a.id, category=a.category, text=a.text, url=a.url)
        for a in prevention.for_category(category)
    ]
